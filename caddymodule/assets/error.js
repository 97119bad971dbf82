(function () {
  // A page refused for capacity counts down its Retry-After and loads
  // itself again: a page load starts a new session when there is room.
  var el = document.getElementById("countdown");
  if (!el) return;
  var left = parseInt(el.getAttribute("data-seconds"), 10) || 30;
  var tick = function () {
    if (left <= 0) {
      clearInterval(timer);
      el.textContent = "Trying again…";
      location.reload();
      return;
    }
    el.textContent = "Trying again in " + left + (left === 1 ? " second…" : " seconds…");
    left--;
  };
  var timer = setInterval(tick, 1000);
  tick();
})();
