/* UGC on the product page: count the gallery's impressions (placement "product_page") and,
 * when the shopper came through a UGC card (utm_content=ugc-<id> in the URL, with the
 * placement it was shown in as ugc_placement), count the Buy button as that item's add to
 * cart. One beacon each, to the feed's events endpoint; nothing here touches the page. */
(function () {
  "use strict";
  var script = document.currentScript;
  var eventsUrl = script && script.getAttribute("data-events");
  if (!eventsUrl) return;

  function beacon(body) {
    var text = JSON.stringify(body);
    var sent = navigator.sendBeacon && navigator.sendBeacon(eventsUrl, text);
    if (!sent && window.fetch) {
      fetch(eventsUrl, { method: "POST", body: text, keepalive: true, credentials: "omit" })
        .catch(function () {});
    }
  }

  // The gallery: each item counted once, when half of it is on screen.
  var seen = {};
  var pending = [];
  var timer = null;
  function flush() {
    timer = null;
    if (pending.length) beacon({ impressions: pending.splice(0, 50), placement: "product_page" });
  }
  if (window.IntersectionObserver) {
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        var id = parseInt(entry.target.getAttribute("data-id"), 10);
        if (entry.isIntersecting && id > 0 && !seen[id]) {
          seen[id] = true;
          pending.push(id);
          if (!timer) timer = setTimeout(flush, 1000);
        }
      });
    }, { threshold: 0.5 });
    var items = document.querySelectorAll(".ugc-gallery-item[data-id]");
    for (var i = 0; i < items.length; i++) observer.observe(items[i]);
    window.addEventListener("pagehide", flush);
  }

  // The Buy button of a visit that came through a UGC card.
  var params = new URLSearchParams(window.location.search);
  var match = /^ugc-(\d{1,18})$/.exec(params.get("utm_content") || "");
  if (!match) return;
  var itemId = parseInt(match[1], 10);
  var placement = params.get("ugc_placement") || "";
  if (!/^[a-z_]{1,20}$/.test(placement)) placement = "";
  document.addEventListener("submit", function (event) {
    if (event.target.matches && event.target.matches("form.buy-form")) {
      beacon({ add_to_carts: [itemId], placement: placement });
    }
  });
})();
