/* The Tidings task pane in Outlook: read the open item through Office.js, and show the panel
   Tidings renders for it (htmx swaps it into #panel; every button in it posts back there).

   Read mode: the item's Internet Message-ID (and its item id) find Tidings' copy.
   Compose mode: a draft has no Message-ID yet, so a random token is written into the draft's
   X-Tidings-Track header (Office.js internetHeaders, Mailbox 1.8); the sent copy carries it
   and Tidings honours "track when sent" when it syncs that copy. */
(function () {
  "use strict";

  var HEADER = "X-Tidings-Track";
  var state = { mode: "read", message_id: "", item_id: "", token: "" };

  function load() {
    var query = new URLSearchParams(state).toString();
    htmx.ajax("GET", "/addin/panel?" + query, { target: "#panel", swap: "innerHTML" });
  }

  function newToken() {
    var bytes = new Uint8Array(18);
    window.crypto.getRandomValues(bytes);
    return btoa(String.fromCharCode.apply(null, bytes))
      .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function draftToken(item, done) {
    item.internetHeaders.getAsync([HEADER], function (result) {
      var found = result.status === Office.AsyncResultStatus.Succeeded && result.value
        ? result.value[HEADER] : "";
      if (found) {
        done(found);
        return;
      }
      var token = newToken();
      var headers = {};
      headers[HEADER] = token;
      item.internetHeaders.setAsync(headers, function () { done(token); });
    });
  }

  // Mail APIs (Graph) name email by the REST form of Outlook's item id.
  function restId(item) {
    var mailbox = Office.context.mailbox;
    if (!item.itemId) {
      return "";
    }
    if (mailbox.convertToRestId && Office.MailboxEnums) {
      return mailbox.convertToRestId(item.itemId, Office.MailboxEnums.RestVersion.v2_0);
    }
    return item.itemId;
  }

  function readItem() {
    var item = Office.context.mailbox.item;
    if (!item) {
      return;
    }
    if (typeof item.internetMessageId === "string") {
      state = { mode: "read", message_id: item.internetMessageId, item_id: restId(item), token: "" };
      load();
    } else {
      draftToken(item, function (token) {
        state = { mode: "compose", message_id: "", item_id: "", token: token };
        load();
      });
    }
  }

  function signIn() {
    var url = window.location.origin + "/signin?next=" + encodeURIComponent("/addin/signed-in");
    Office.context.ui.displayDialogAsync(url, { height: 60, width: 30 }, function (result) {
      if (result.status !== Office.AsyncResultStatus.Succeeded) {
        return;
      }
      var dialog = result.value;
      dialog.addEventHandler(Office.EventType.DialogMessageReceived, function (arg) {
        if (arg.message === "signed-in") {
          dialog.close();
          load();
        }
      });
    });
  }

  document.addEventListener("click", function (event) {
    if (event.target && event.target.id === "sign-in") {
      signIn();
    }
  });

  // A refused action (4xx) comes back as the panel with its error: show it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status >= 400 && status < 500) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  Office.onReady(function () {
    var mailbox = Office.context.mailbox;
    if (mailbox && mailbox.addHandlerAsync && Office.EventType.ItemChanged) {
      // A pinned pane follows the email selected next.
      mailbox.addHandlerAsync(Office.EventType.ItemChanged, readItem);
    }
    readItem();
  });
})();
