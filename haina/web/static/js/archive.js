/* Message archive pages: forms marked data-confirm ask before they submit (the question comes
   from the data attribute, so translations may hold any character). */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
  });
})();
