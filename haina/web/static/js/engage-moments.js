/* The moment compose form: the phone preview follows the text and link as they are typed. */
(function () {
  "use strict";
  var form = document.querySelector("[data-moment-form]");
  if (!form) return;
  var text = form.querySelector("[data-moment-text]");
  var linkTitle = form.querySelector("[data-moment-link-title]");
  var linkUrl = form.querySelector("[data-moment-link-url]");
  var previewText = document.querySelector("[data-preview-text]");
  var previewLink = document.querySelector("[data-preview-link]");
  var previewLinkTitle = document.querySelector("[data-preview-link-title]");
  var empty = previewText.textContent;
  function update() {
    previewText.textContent = text.value || empty;
    var url = linkUrl.value.trim();
    previewLink.hidden = !url;
    previewLinkTitle.textContent = linkTitle.value.trim() || url;
  }
  [text, linkTitle, linkUrl].forEach(function (input) { input.addEventListener("input", update); });
  var senders = form.querySelector("[data-moment-senders]");
  senders.addEventListener("input", function () {
    if (senders.value.trim()) form.querySelector("[data-picked]").checked = true;
  });
  update();

  // Pictures go to the image library (/api/v1/engage/images); each kept id is posted as image_ids.
  var pictures = form.querySelector("[data-moment-pictures]");
  var list = form.querySelector("[data-moment-picture-list]");
  var file = form.querySelector("[data-image-file]");
  var status = form.querySelector("[data-image-status]");
  var previewPictures = document.querySelector("[data-preview-pictures]");
  function thumbnail(id, className) {
    var image = document.createElement("img");
    image.className = className;
    image.alt = "";
    image.src = "/api/v1/engage/images/" + encodeURIComponent(id);
    return image;
  }
  function addPicture(id) {
    var item = document.createElement("span");
    item.className = "moment-picture";
    item.setAttribute("data-moment-picture", id);
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = "image_ids";
    hidden.value = id;
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button button-small button-text";
    remove.textContent = "×";
    var shown = thumbnail(id, "moment-preview-picture");
    remove.addEventListener("click", function () {
      item.remove();
      shown.remove();
      file.disabled = false;
    });
    item.appendChild(thumbnail(id, "moment-thumbnail"));
    item.appendChild(hidden);
    item.appendChild(remove);
    list.appendChild(item);
    previewPictures.appendChild(shown);
    file.disabled = list.children.length >= 9;
  }
  file.addEventListener("change", function () {
    if (!file.files || !file.files[0]) return;
    var meta = document.querySelector('meta[name="csrf-token"]');
    var body = new FormData();
    body.append("media", file.files[0]);
    status.textContent = pictures.getAttribute("data-uploading") || "…";
    fetch("/api/v1/engage/images", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": meta ? meta.getAttribute("content") : "" },
      body: body
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error((data.error && data.error.message) || response.statusText);
        return data;
      });
    }).then(function (image) {
      addPicture(image.id);
      status.textContent = "";
      file.value = "";
    }, function (error) {
      status.textContent = error.message;
    });
  });
})();
