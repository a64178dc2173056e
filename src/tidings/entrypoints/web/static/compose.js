// The compose page's rich-text editor: a progressive enhancement of the Message text box.
// Without JavaScript the text box takes plain text or HTML; with it, people format with a
// toolbar and the editor's HTML is copied into the text box when the form is posted. The
// server sanitizes every body the same way, whichever way it came.
(function () {
  "use strict";

  var COMMANDS = [
    ["bold", "Bold", "B"],
    ["italic", "Italic", "I"],
    ["underline", "Underline", "U"],
    ["insertUnorderedList", "Bulleted list", "• List"],
    ["insertOrderedList", "Numbered list", "1. List"],
    ["createLink", "Link", "Link"],
    ["removeFormat", "Clear formatting", "Clear"],
  ];

  function escapeText(text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML.replace(/\n/g, "<br>");
  }

  function enhance(textarea) {
    var label = document.querySelector('label[for="' + textarea.id + '"]');
    var editor = document.createElement("div");
    editor.id = textarea.id + "-editor";
    editor.className = "rich-editor";
    editor.contentEditable = "true";
    editor.setAttribute("role", "textbox");
    editor.setAttribute("aria-multiline", "true");
    var value = textarea.value;
    // The saved body is HTML already sanitized by the server, or plain text.
    editor.innerHTML = /<[a-z!\/]/i.test(value) ? value : escapeText(value);

    var toolbar = document.createElement("div");
    toolbar.className = "rich-toolbar";
    toolbar.setAttribute("role", "toolbar");
    toolbar.setAttribute("aria-label", "Formatting");
    COMMANDS.forEach(function (command) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = command[2];
      button.title = command[1];
      button.setAttribute("aria-label", command[1]);
      button.addEventListener("mousedown", function (event) {
        event.preventDefault(); // keep the selection in the editor
      });
      button.addEventListener("click", function () {
        editor.focus();
        var argument = null;
        if (command[0] === "createLink") {
          argument = window.prompt("Link address (https://…)");
          if (!argument) {
            return;
          }
        }
        document.execCommand(command[0], false, argument);
      });
      toolbar.appendChild(button);
    });

    if (label) {
      // The label now names the editor, not the hidden text box.
      label.id = label.id || textarea.id + "-label";
      label.removeAttribute("for");
      editor.setAttribute("aria-labelledby", label.id);
      label.addEventListener("click", function () {
        editor.focus();
      });
    }
    textarea.hidden = true;
    textarea.parentNode.insertBefore(toolbar, textarea);
    textarea.parentNode.insertBefore(editor, textarea);
    textarea.form.addEventListener("submit", function () {
      textarea.value = editor.innerHTML;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var textarea = document.querySelector("textarea[data-rich-text]");
    if (textarea && textarea.form) {
      enhance(textarea);
    }
  });
})();
