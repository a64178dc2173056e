/* The last page of the sign-in dialog: tell the task pane that the session is there. */
(function () {
  "use strict";
  Office.onReady(function () {
    Office.context.ui.messageParent("signed-in");
  });
})();
