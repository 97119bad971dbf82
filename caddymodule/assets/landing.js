(function () {
  var params = new URLSearchParams(location.hash.slice(1));
  var code = params.get("code");
  // Drop the code from the address bar and history before anything else.
  history.replaceState(null, "", location.pathname);
  var form = document.getElementById("open");
  if (!code) {
    document.getElementById("status").textContent =
      "This link has no access code. Paste the code you were given below, or ask for the full link.";
    return;
  }
  form.elements.code.value = code;
  if (params.get("embed") === "1") form.elements.embed.value = "1";
  if (params.get("object")) form.elements.object.value = params.get("object");
  form.submit();
})();
