// Live pages: refresh the main section in place every few seconds, no reload, no framework.
(function () {
  const main = document.getElementById("main");
  const seconds = main && Number(main.dataset.refresh);
  if (!seconds) return;
  async function refresh() {
    try {
      const answer = await fetch(window.location.href, { headers: { "X-Console-Partial": "1" } });
      if (answer.ok) {
        main.innerHTML = await answer.text();
        main.dataset.refreshed = String(Date.now());
      }
    } finally {
      window.setTimeout(refresh, seconds * 1000);
    }
  }
  window.setTimeout(refresh, seconds * 1000);
})();
