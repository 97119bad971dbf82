(function () {
  var params = new URLSearchParams(location.hash.slice(1));
  var code = params.get("code");
  // Drop the code from the address bar and history before anything else.
  history.replaceState(null, "", location.pathname);
  var form = document.getElementById("open");
  var title = document.getElementById("title");
  var status = document.getElementById("status");
  var hint = document.getElementById("hint");
  var retry = document.getElementById("retry");
  if (!code) {
    status.textContent =
      "This link has no access code. Paste the code you were given below, or ask for the full link.";
    return;
  }
  form.hidden = true;
  var body = new URLSearchParams({ code: code });
  if (params.get("embed") === "1") body.set("embed", "1");
  if (params.get("object")) body.set("object", params.get("object"));

  function show(heading, message, more) {
    title.textContent = heading;
    document.title = heading;
    status.textContent = message;
    hint.textContent = more || "";
  }

  // Count down Retry-After seconds on the page, then try again with the
  // code this page still holds (it is nowhere else).
  function countdown(seconds, heading, message) {
    var left = Math.max(1, seconds || 30);
    show(heading, message, "");
    retry.hidden = false;
    var tick = function () {
      if (left <= 0) {
        clearInterval(timer);
        retry.hidden = true;
        open();
        return;
      }
      hint.textContent = "Trying again in " + left + (left === 1 ? " second…" : " seconds…");
      left--;
    };
    var timer = setInterval(tick, 1000);
    tick();
    retry.onclick = function () {
      clearInterval(timer);
      retry.hidden = true;
      open();
    };
  }

  var byStatus = { 403: "invalid_link", 429: "rate_limited", 503: "unavailable" };

  function refused(code, status, wait) {
    switch (code) {
      case "capacity_full":
        countdown(wait, "Too many viewers right now",
          "This content has reached its limit of simultaneous anonymous viewers.");
        break;
      case "store_unavailable":
      case "unavailable":
        countdown(wait, "Temporarily unavailable",
          "Shared content cannot be opened right now.");
        break;
      case "rate_limited":
        countdown(wait, "Too many attempts",
          "There were too many attempts with invalid links from your network.");
        break;
      case "client_limit":
        countdown(wait, "Too many open sessions from your network",
          "Your network already has as many shared sessions open as one network may.");
        break;
      case "invalid_link":
        show("This link is not valid",
          "The link may have been turned off, or replaced by a new one.",
          "Ask the person who shared it for a current link.");
        break;
      case "bad_request":
        show("This link is incomplete",
          "Part of the link is missing or was changed.",
          "Copy the whole link again, or ask for a new one.");
        break;
      default:
        show("This link could not be opened", "The server answered " + status + ".",
          "Please try again later.");
    }
  }

  function open() {
    show("Opening shared content…", "One moment while your anonymous session starts.");
    fetch(location.pathname, {
      method: "POST",
      body: body,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
      redirect: "follow",
    }).then(function (resp) {
      if (resp.redirected) {
        location.replace(resp.url);
        return;
      }
      var wait = parseInt(resp.headers.get("Retry-After"), 10);
      // The JSON "error" code says what happened; a page rendered by the
      // site's own handle_errors has none, and the status is all there is.
      return resp.json().then(function (data) {
        return data && data.error;
      }, function () {
        return "";
      }).then(function (code) {
        refused(code || byStatus[resp.status] || "", resp.status, wait);
      });
    }, function () {
      countdown(10, "Cannot reach the server", "Check your connection.");
    });
  }
  open();
})();
