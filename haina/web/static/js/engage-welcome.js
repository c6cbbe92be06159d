// Welcome message editor: attachments kept as JSON in a hidden field, scope-dependent fields,
// variable buttons and a live preview of the WeChat bubble with sample names filled in.
(function () {
  "use strict";

  var FIELDS = {
    image: [],
    link: ["title", "url", "desc", "picurl"],
    miniprogram: ["title", "appid", "page", "pic_media_id"]
  };

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A picture goes to the image library (/api/v1/engage/images); the attachment keeps its id.
  function uploadImage(file) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    var body = new FormData();
    body.append("media", file);
    return fetch("/api/v1/engage/images", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": meta ? meta.getAttribute("content") : "" },
      body: body
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error((data.error && data.error.message) || response.statusText);
        return data;
      });
    });
  }

  function setup(root) {
    var form = root.querySelector("#welcome-form");
    var hidden = root.querySelector("[data-attachments-json]");
    var list = root.querySelector("[data-attachments]");
    var textArea = root.querySelector("[data-welcome-text]");
    var previewText = root.querySelector("[data-preview-text]");
    var previewAttachments = root.querySelector("[data-preview-attachments]");
    var labels = JSON.parse(root.getAttribute("data-field-labels") || "{}");
    var maximum = parseInt(root.getAttribute("data-max-attachments") || "9", 10);
    var attachments;
    try {
      attachments = JSON.parse(hidden.value || "[]");
      if (!Array.isArray(attachments)) attachments = [];
    } catch (error) {
      attachments = [];
    }

    function kindLabel(kind) {
      return root.getAttribute("data-label-" + kind) || kind;
    }

    function render(text) {
      return text
        .split("{客户昵称}").join(root.getAttribute("data-sample-customer"))
        .split("{customer_name}").join(root.getAttribute("data-sample-customer"))
        .split("{员工姓名}").join(root.getAttribute("data-sample-staff"))
        .split("{staff_name}").join(root.getAttribute("data-sample-staff"));
    }

    function sync() {
      hidden.value = JSON.stringify(attachments);
      var text = textArea.value.trim();
      previewText.textContent = render(text);
      previewText.hidden = !text;
      previewAttachments.textContent = "";
      attachments.forEach(function (attachment) {
        var card = element("div", "welcome-card welcome-card-" + attachment.type);
        card.setAttribute("data-preview-card", attachment.type);
        if (attachment.type === "image" && attachment.image_id) {
          var picture = element("img", "welcome-card-picture");
          picture.src = "/api/v1/engage/images/" + encodeURIComponent(attachment.image_id);
          picture.alt = kindLabel("image");
          card.appendChild(picture);
        } else if (attachment.type === "image") {
          card.appendChild(element("div", "welcome-card-image", kindLabel("image") + " · " + (attachment.media_id || "")));
        } else {
          card.appendChild(element("div", "welcome-card-title", attachment.title || kindLabel(attachment.type)));
          var sub = attachment.type === "link" ? (attachment.desc || attachment.url || "") : kindLabel("miniprogram");
          card.appendChild(element("div", "welcome-card-desc", sub));
        }
        previewAttachments.appendChild(card);
      });
      root.querySelectorAll("[data-add-attachment]").forEach(function (button) {
        button.disabled = attachments.length >= maximum;
      });
    }

    function draw() {
      list.textContent = "";
      attachments.forEach(function (attachment, index) {
        var row = element("div", "welcome-attachment");
        row.setAttribute("data-attachment", attachment.type);
        row.appendChild(element("span", "tag tag-blue", kindLabel(attachment.type)));
        (FIELDS[attachment.type] || []).forEach(function (name) {
          var input = element("input", "input input-small");
          input.name = "attachment-" + index + "-" + name;
          input.placeholder = labels[name] || name;
          input.setAttribute("aria-label", labels[name] || name);
          input.setAttribute("data-attachment-field", name);
          input.value = attachment[name] || "";
          input.addEventListener("input", function () {
            attachment[name] = input.value;
            sync();
          });
          row.appendChild(input);
        });
        if (attachment.type === "image") drawImageField(row, attachment);
        var remove = element("button", "button button-small button-text", root.getAttribute("data-label-remove"));
        remove.type = "button";
        remove.addEventListener("click", function () {
          attachments.splice(index, 1);
          draw();
        });
        row.appendChild(remove);
        list.appendChild(row);
      });
      sync();
    }

    function drawImageField(row, attachment) {
      if (attachment.image_id) {
        var thumbnail = element("img", "welcome-thumbnail");
        thumbnail.src = "/api/v1/engage/images/" + encodeURIComponent(attachment.image_id);
        thumbnail.alt = kindLabel("image");
        thumbnail.setAttribute("data-image-thumbnail", attachment.image_id);
        row.appendChild(thumbnail);
      } else if (attachment.media_id) {
        row.appendChild(element("span", "field-hint", "media_id " + attachment.media_id));
      }
      var file = element("input", "welcome-file");
      file.type = "file";
      file.accept = "image/png,image/jpeg";
      file.setAttribute("aria-label", root.getAttribute("data-label-upload") || "upload");
      file.setAttribute("data-image-file", "");
      var status = element("span", "field-hint");
      status.setAttribute("data-image-status", "");
      file.addEventListener("change", function () {
        if (!file.files || !file.files[0]) return;
        status.textContent = root.getAttribute("data-label-uploading") || "…";
        uploadImage(file.files[0]).then(function (image) {
          attachment.image_id = image.id;
          delete attachment.media_id;
          draw();
        }, function (error) {
          status.textContent = error.message;
          status.className = "field-hint field-error";
        });
      });
      row.appendChild(file);
      row.appendChild(status);
    }

    function showScope() {
      var checked = root.querySelector("[data-scope-choice]:checked");
      var scope = checked ? checked.value : "default";
      root.querySelectorAll("[data-scope-field]").forEach(function (field) {
        field.hidden = field.getAttribute("data-scope-field") !== scope;
      });
    }

    root.querySelectorAll("[data-add-attachment]").forEach(function (button) {
      button.addEventListener("click", function () {
        if (attachments.length >= maximum) return;
        attachments.push({ type: button.getAttribute("data-add-attachment") });
        draw();
        var inputs = list.querySelectorAll(".welcome-attachment:last-child input");
        if (inputs.length) inputs[0].focus();
      });
    });
    root.querySelectorAll("[data-insert]").forEach(function (button) {
      button.addEventListener("click", function () {
        var value = button.getAttribute("data-insert");
        var start = textArea.selectionStart || textArea.value.length;
        var end = textArea.selectionEnd || start;
        textArea.value = textArea.value.slice(0, start) + value + textArea.value.slice(end);
        textArea.focus();
        textArea.selectionStart = textArea.selectionEnd = start + value.length;
        sync();
      });
    });
    root.querySelectorAll("[data-scope-choice]").forEach(function (radio) {
      radio.addEventListener("change", showScope);
    });
    textArea.addEventListener("input", sync);
    form.addEventListener("submit", sync);
    showScope();
    draw();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-welcome-editor]").forEach(setup);
  });
})();
