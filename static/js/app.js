// SecretsAdmin behaviour. Loaded as a file because the Content-Security-Policy forbids inline scripts.
document.addEventListener("htmx:configRequest", function (event) {
  // htmx POSTs carry Django's CSRF token from the cookie-less hidden input on the page.
  var token = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (token) {
    event.detail.headers["X-CSRFToken"] = token.value;
  }
});
