/* The scripts panel of the WeCom sidebar. One button per script: inside WeCom it sends the script
   into the current chat with the JS-SDK (wx.invoke("sendChatMessage") or ww.sendChatMessage);
   outside WeCom it copies the text. Either way the use is recorded. Loaded more than once when
   the panel is swapped in again: the click handler is bound once. */
(function () {
  "use strict";
  if (window.hainaScriptsBound) return;
  window.hainaScriptsBound = true;

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return copyByCommand(text); });
    }
    return copyByCommand(text);
  }

  function copyByCommand(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var done = false;
    try { done = document.execCommand("copy"); } catch (error) { done = false; }
    document.body.removeChild(area);
    return done ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function sendInWeCom(message) {
    var wx = window.wx, ww = window.ww;
    if (ww && typeof ww.sendChatMessage === "function") {
      return ww.sendChatMessage(message);
    }
    if (wx && typeof wx.invoke === "function") {
      return new Promise(function (resolve, reject) {
        message.enterChat = true;
        wx.invoke("sendChatMessage", message, function (answer) {
          if (answer && answer.err_msg === "sendChatMessage:ok") resolve(answer);
          else reject(new Error(answer && answer.err_msg));
        });
      });
    }
    return null;
  }

  function recordUse(panel, scriptId, item) {
    return fetch("/engage/scripts/" + encodeURIComponent(scriptId) + "/use", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": panel.getAttribute("data-csrf") || "" }
    }).then(function (answer) { return answer.ok ? answer.json() : null; }).then(function (body) {
      var count = item && item.querySelector("[data-use-count]");
      if (body && count) count.textContent = String(body.use_count);
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-send-script]");
    if (!button) return;
    var panel = button.closest("[data-scripts-sidebar]");
    if (!panel) return;
    var scriptId = button.getAttribute("data-send-script");
    var message = JSON.parse(button.getAttribute("data-message") || "{}");
    var sending = sendInWeCom(message);
    var label = panel.getAttribute(sending ? "data-label-sent" : "data-label-copied");
    var done = sending || copy(button.getAttribute("data-copy") || "");
    button.disabled = true;
    Promise.resolve(done).then(function () {
      button.textContent = label;
      button.setAttribute("data-state", "done");
      return recordUse(panel, scriptId, button.closest("[data-script]"));
    }, function () {
      button.textContent = panel.getAttribute("data-label-failed");
      button.setAttribute("data-state", "failed");
    }).then(function () {
      window.setTimeout(function () { button.disabled = false; }, 800);
    });
  });
})();
