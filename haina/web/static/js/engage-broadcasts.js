/* Mass message form: show the target panel picked, the attachment fields of each kind, and more
   attachment rows on demand. */
(function () {
  "use strict";
  // A picture goes to the image library (/api/v1/engage/images); the row keeps its id.
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
  function setupPicture(row) {
    var file = row.querySelector("[data-image-file]");
    if (!file) return;
    var hidden = row.querySelector("[data-image-id]");
    var thumbnail = row.querySelector("[data-image-thumbnail]");
    var status = row.querySelector("[data-image-status]");
    file.addEventListener("change", function () {
      if (!file.files || !file.files[0]) return;
      status.textContent = file.getAttribute("data-uploading") || "…";
      uploadImage(file.files[0]).then(function (image) {
        hidden.value = image.id;
        thumbnail.src = "/api/v1/engage/images/" + encodeURIComponent(image.id);
        thumbnail.hidden = false;
        status.textContent = "";
      }, function (error) {
        status.textContent = error.message;
      });
    });
  }
  function setup(form) {
    function showTarget() {
      var picked = form.querySelector("[data-target-kind]:checked");
      var kind = picked ? picked.value : "segment";
      form.querySelectorAll("[data-target-panel]").forEach(function (panel) {
        panel.hidden = panel.getAttribute("data-target-panel") !== kind;
      });
    }
    function showFields(row) {
      var kind = row.querySelector("[data-attachment-kind]").value;
      row.querySelectorAll("[data-for]").forEach(function (input) {
        input.hidden = !kind || input.getAttribute("data-for").split(" ").indexOf(kind) < 0;
      });
    }
    form.querySelectorAll("[data-target-kind]").forEach(function (radio) { radio.addEventListener("change", showTarget); });
    form.querySelectorAll("[data-attachment]").forEach(function (row) {
      row.querySelector("[data-attachment-kind]").addEventListener("change", function () { showFields(row); });
      showFields(row);
      setupPicture(row);
    });
    var add = form.querySelector("[data-add-attachment]");
    if (add) {
      add.addEventListener("click", function () {
        var hidden = form.querySelector("[data-attachment][hidden]");
        if (hidden) hidden.hidden = false;
        if (!form.querySelector("[data-attachment][hidden]")) add.hidden = true;
      });
    }
    showTarget();
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-broadcast-form]").forEach(setup);
  });
})();
