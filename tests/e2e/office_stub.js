/* A stand-in for Office.js (https://appsforoffice.microsoft.com/lib/1/hosted/office.js) in
   the browser tests, which cannot reach Microsoft. Playwright serves this file at that address.

   It implements only what the Tidings task pane and sign-in dialog use, as Microsoft documents
   it (learn.microsoft.com/javascript/api/outlook):
   - Office.onReady(callback), Office.AsyncResultStatus, Office.EventType
   - Office.context.mailbox.item in read mode (internetMessageId, itemId, subject) and in
     compose mode (internetHeaders.getAsync / setAsync), chosen by window.__officeStub
   - Office.context.mailbox.addHandlerAsync (accepted, never fired)
   - Office.context.mailbox.convertToRestId and Office.MailboxEnums.RestVersion ('/' and '+'
     of an EWS id become '-' and '_')
   - Office.context.ui.displayDialogAsync(url, options, callback): opens a window; the dialog
     object's DialogMessageReceived handler gets what the dialog passes to messageParent
   - Office.context.ui.messageParent(message): posts to the window that opened the dialog

   The test sets window.__officeStub = {mode: "read", internetMessageId, itemId} or
   {mode: "compose"}; in compose mode the headers set on the draft stay in
   window.__officeStub.headers for the test to read. */
(function () {
  "use strict";
  var config = window.__officeStub || { mode: "none" };
  var Succeeded = "succeeded";

  function result(value) {
    return { status: Succeeded, value: value };
  }

  function composeItem() {
    config.headers = config.headers || {};
    return {
      itemType: "message",
      internetHeaders: {
        getAsync: function (names, callback) {
          var found = {};
          names.forEach(function (name) {
            if (config.headers[name] !== undefined) {
              found[name] = config.headers[name];
            }
          });
          setTimeout(function () { callback(result(found)); }, 0);
        },
        setAsync: function (headers, callback) {
          Object.keys(headers).forEach(function (name) { config.headers[name] = headers[name]; });
          setTimeout(function () { callback(result(undefined)); }, 0);
        },
      },
    };
  }

  function readItem() {
    return {
      itemType: "message",
      internetMessageId: config.internetMessageId,
      itemId: config.itemId || "",
      subject: config.subject || "",
    };
  }

  var item = config.mode === "read" ? readItem() : config.mode === "compose" ? composeItem() : null;

  window.Office = {
    AsyncResultStatus: { Succeeded: Succeeded, Failed: "failed" },
    MailboxEnums: { RestVersion: { v1_0: "v1.0", v2_0: "v2.0", Beta: "beta" } },
    EventType: {
      DialogMessageReceived: "dialogMessageReceived",
      ItemChanged: "olkItemSelectedChanged",
    },
    onReady: function (callback) {
      var info = { host: "Outlook", platform: "PC" };
      return new Promise(function (resolve) {
        setTimeout(function () {
          if (callback) {
            callback(info);
          }
          resolve(info);
        }, 0);
      });
    },
    context: {
      mailbox: {
        item: item,
        convertToRestId: function (itemId) {
          return itemId.replace(/\//g, "-").replace(/\+/g, "_");
        },
        addHandlerAsync: function (type, handler, callback) {
          if (callback) {
            callback(result(undefined));
          }
        },
      },
      ui: {
        displayDialogAsync: function (url, options, callback) {
          var opened = window.open(url, "office-dialog");
          var handlers = {};
          window.addEventListener("message", function (event) {
            var data = event.data || {};
            var handler = handlers[window.Office.EventType.DialogMessageReceived];
            if (event.source === opened && data.officeDialogMessage !== undefined && handler) {
              handler({ message: data.officeDialogMessage, origin: event.origin });
            }
          });
          callback(result({
            addEventHandler: function (type, handler) { handlers[type] = handler; },
            close: function () { opened.close(); },
          }));
        },
        messageParent: function (message) {
          window.opener.postMessage({ officeDialogMessage: message }, window.location.origin);
        },
      },
    },
  };
})();
