/* The console's shop-the-look editor: a click on the media fills the chosen product's x and
 * y (fractions of the media's displayed box) and moves its marker; saving posts the form.
 * For a video, the time range starts at the frame shown when clicking, if none is given. */
(function () {
  "use strict";
  var stage = document.querySelector("[data-look-stage]");
  if (!stage) return;
  var media = stage.querySelector("img, video");

  function selected() {
    var pick = document.querySelector('input[name="pick"]:checked');
    return pick ? document.querySelector('[data-look-row="' + pick.value + '"]') : null;
  }

  function marker(productId) {
    var found = stage.querySelector('[data-marker="' + productId + '"]');
    if (!found) {
      found = document.createElement("span");
      found.className = "look-marker";
      found.setAttribute("data-marker", productId);
      stage.appendChild(found);
    }
    return found;
  }

  function highlight() {
    var row = selected();
    var rows = document.querySelectorAll("[data-look-row]");
    for (var i = 0; i < rows.length; i++) rows[i].classList.toggle("is-selected", rows[i] === row);
    var markers = stage.querySelectorAll("[data-marker]");
    for (var j = 0; j < markers.length; j++) {
      markers[j].classList.toggle(
        "is-selected", !!row && markers[j].getAttribute("data-marker") === row.getAttribute("data-look-row")
      );
    }
  }

  document.addEventListener("change", function (event) {
    if (event.target.name !== "pick") return;
    // Each row is its own form, so the radios are not one group: keep one checked.
    var picks = document.querySelectorAll('input[name="pick"]');
    for (var i = 0; i < picks.length; i++) {
      if (picks[i] !== event.target) picks[i].checked = false;
    }
    highlight();
  });

  stage.addEventListener("click", function (event) {
    var row = selected();
    if (!row || !media) return;
    var box = media.getBoundingClientRect();
    var x = (event.clientX - box.left) / box.width;
    var y = (event.clientY - box.top) / box.height;
    if (x < 0 || x > 1 || y < 0 || y > 1) return;
    if (media.tagName === "VIDEO") {
      event.preventDefault();  // a click places a tag; the controls still play and pause
      var start = row.querySelector('input[name="start_s"]');
      if (start && start.value === "") start.value = media.currentTime.toFixed(2);
    }
    row.querySelector('input[name="x"]').value = x.toFixed(4);
    row.querySelector('input[name="y"]').value = y.toFixed(4);
    var dot = marker(row.getAttribute("data-look-row"));
    dot.style.left = (x * 100).toFixed(2) + "%";
    dot.style.top = (y * 100).toFixed(2) + "%";
    highlight();
  });
  highlight();
})();
