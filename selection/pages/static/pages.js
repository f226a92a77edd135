// Every htmx request carries this page's CSRF token in the header the server checks; a plain
// form carries it in its hidden field. The token is in the page, not read from the cookie
// (which scripts cannot read).
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content");
  }
});
