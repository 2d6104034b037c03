/* Shoploop shoppable feed: autoplay the visible video, preload the next item, page in more
 * items from the JSON API, and count impressions and card clicks in batched beacons.
 * No dependencies; user text is only ever set with textContent. */
(function () {
  "use strict";

  var feed = document.querySelector(".ugc-feed");
  if (!feed) return;

  var eventsUrl = feed.getAttribute("data-events");
  var apiUrl = feed.getAttribute("data-api");
  var nextCursor = feed.getAttribute("data-next-cursor") || "";
  var loading = false;
  var seen = new Set();
  var queue = { impressions: [], clicks: [] };
  var MAX_PER_BEACON = 50;
  var SEND_EVERY_MS = 4000;

  // --- counting ---------------------------------------------------------------------
  function send() {
    while (queue.impressions.length || queue.clicks.length) {
      var body = { impressions: [], clicks: [] };
      var room = MAX_PER_BEACON;
      body.clicks = queue.clicks.splice(0, room);
      room -= body.clicks.length;
      body.impressions = queue.impressions.splice(0, room);
      var text = JSON.stringify(body);
      // A string body is sent as text/plain: a "simple" request, no preflight.
      var sent = navigator.sendBeacon && navigator.sendBeacon(eventsUrl, text);
      if (!sent && window.fetch) {
        fetch(eventsUrl, { method: "POST", body: text, keepalive: true, credentials: "omit" })
          .catch(function () {});
      }
    }
  }
  setInterval(send, SEND_EVERY_MS);
  window.addEventListener("pagehide", send);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") send();
  });

  feed.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest(".feed-card-button") : null;
    if (!button) return;
    var id = parseInt(button.getAttribute("data-item"), 10);
    if (id > 0) {
      queue.clicks.push(id);
      send(); // the beacon outlives the navigation that follows
    }
  });

  // --- sound: every clip starts muted (browsers only autoplay muted video); the header's
  // button turns sound on or off for all of them, the one playing included --------------
  var soundButton = document.querySelector(".feed-sound");
  var soundOn = false;

  function applySound(video) {
    video.muted = !soundOn;
    if (soundOn) video.removeAttribute("muted");
    else video.setAttribute("muted", "");
  }

  function showSoundButton() {
    if (soundButton && soundButton.hidden && feed.querySelector("video.feed-media")) {
      soundButton.hidden = false;
    }
  }

  if (soundButton) {
    soundButton.addEventListener("click", function () {
      soundOn = !soundOn;
      soundButton.textContent = soundOn ? "Mute" : "Unmute";
      soundButton.classList.toggle("sound-on", soundOn);
      var videos = feed.querySelectorAll("video.feed-media");
      for (var i = 0; i < videos.length; i++) applySound(videos[i]);
    });
    showSoundButton();
  }

  // --- HLS: native where the browser plays it (Safari, Android), hls.js (loaded once, on
  // demand) where Media Source Extensions exist, else the MP4 <source>s stay in charge ------
  var hlsjsUrl = feed.getAttribute("data-hlsjs");
  var hlsjsLoading = null;
  var nativeHls = (function () {
    var probe = document.createElement("video");
    return !!(probe.canPlayType && probe.canPlayType("application/vnd.apple.mpegurl"));
  })();

  function loadHlsjs() {
    if (window.Hls) return Promise.resolve(window.Hls);
    if (!hlsjsLoading) {
      hlsjsLoading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = hlsjsUrl;
        script.onload = function () { resolve(window.Hls); };
        script.onerror = reject;
        document.head.appendChild(script);
      });
    }
    return hlsjsLoading;
  }

  function startStream(video) {
    var url = video.getAttribute("data-hls");
    if (!url || video.getAttribute("data-stream")) return;
    if (nativeHls) {
      video.setAttribute("data-stream", "native");
      video.src = url;  // the src attribute wins over the MP4 <source> children
      return;
    }
    if (!hlsjsUrl || !window.MediaSource) return;
    video.setAttribute("data-stream", "pending");
    loadHlsjs().then(function (Hls) {
      if (!Hls || !Hls.isSupported()) {
        video.setAttribute("data-stream", "mp4");
        return;
      }
      var hls = new Hls({ capLevelToPlayerSize: true, maxBufferLength: 10 });
      hls.on(Hls.Events.ERROR, function (event, data) {
        if (data.fatal) {  // fall back to the MP4s for good
          hls.destroy();
          video.setAttribute("data-stream", "mp4");
          video.removeAttribute("src");
          video.load();
        }
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      video.setAttribute("data-stream", "hls.js");
      if (video.getAttribute("data-wants-play")) {
        var playing = video.play();
        if (playing && playing.catch) playing.catch(function () {});
      }
    }).catch(function () { video.setAttribute("data-stream", "mp4"); });
  }

  function play(video) {
    startStream(video);
    video.setAttribute("data-wants-play", "1");
    // Playing before hls.js is attached would make the browser fetch an MP4 <source>.
    if (video.getAttribute("data-stream") === "pending") return;
    var playing = video.play();
    if (playing && playing.catch) playing.catch(function () {});
  }

  // --- playing and preloading --------------------------------------------------------
  function items() {
    return feed.querySelectorAll(".feed-item");
  }

  function preload(item) {
    if (!item) return;
    var video = item.querySelector("video.feed-media");
    if (video) {
      if (video.preload !== "auto") video.preload = "auto";
      startStream(video);
      var poster = video.getAttribute("poster");
      if (poster && !document.querySelector('link[rel="preload"][href="' + CSS.escape(poster) + '"]')) {
        var link = document.createElement("link");
        link.rel = "preload";
        link.as = "image";
        link.href = poster;
        document.head.appendChild(link);
      }
    }
    var img = item.querySelector("img.feed-media");
    if (img && img.loading === "lazy") img.loading = "eager";
  }

  function activate(item) {
    var list = items();
    for (var i = 0; i < list.length; i++) {
      var video = list[i].querySelector("video.feed-media");
      if (!video) continue;
      if (list[i] === item) {
        play(video);
      } else {
        video.removeAttribute("data-wants-play");
        if (!video.paused) video.pause();
      }
    }
    var id = parseInt(item.getAttribute("data-id"), 10);
    if (id > 0 && !seen.has(id)) {
      seen.add(id);
      queue.impressions.push(id);
    }
    preload(item.nextElementSibling);
    if (!item.nextElementSibling || !item.nextElementSibling.nextElementSibling ||
        !item.nextElementSibling.nextElementSibling.classList.contains("feed-item")) {
      loadMore();
    }
  }

  var observer = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting && entry.intersectionRatio >= 0.6) activate(entry.target);
    });
  }, { threshold: [0, 0.6] });

  function observeAll(root) {
    var list = (root || feed).querySelectorAll(".feed-item");
    for (var i = 0; i < list.length; i++) observer.observe(list[i]);
  }

  // --- paging in ---------------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function render(item) {
    var section = el("section", "feed-item");
    section.setAttribute("data-id", String(item.id));
    section.setAttribute("data-kind", item.media.kind);
    var media = item.media;
    if (media.kind === "video") {
      var video = el("video", "feed-media");
      applySound(video);
      video.setAttribute("playsinline", "");
      video.loop = true;
      video.preload = "none";
      if (media.display_url) video.poster = media.display_url;
      if (media.hls_url) video.setAttribute("data-hls", media.hls_url);
      media.renditions.forEach(function (r, i) {
        var source = document.createElement("source");
        source.src = r.url;
        source.type = r.content_type;
        if (i < media.renditions.length - 1) source.media = "(max-width: 480px)";
        video.appendChild(source);
      });
      section.appendChild(video);
    } else if (media.display_url) {
      var img = el("img", "feed-media");
      img.src = media.display_url;
      img.alt = (item.caption || "A customer photo").slice(0, 120);
      img.loading = "lazy";
      section.appendChild(img);
    }
    var overlay = el("div", "feed-overlay");
    if (item.author_handle) overlay.appendChild(el("p", "feed-author", "@" + item.author_handle));
    if (item.caption) overlay.appendChild(el("p", "feed-caption", item.caption));
    item.products.forEach(function (product) {
      var card = el("div", "feed-card");
      if (product.image_url) {
        var image = el("img", "feed-card-image");
        image.src = product.image_url;
        image.alt = product.image_alt;
        image.width = 56;
        image.height = 56;
        image.loading = "lazy";
        card.appendChild(image);
      }
      var text = el("div", "feed-card-text");
      text.appendChild(el("p", "feed-card-title", product.title));
      if (product.price) text.appendChild(el("p", "feed-card-price", product.price));
      card.appendChild(text);
      var button = el("a", "feed-card-button", "Shop");
      button.href = product.link_path; // this host: the short link redirect
      button.setAttribute("data-item", String(item.id));
      card.appendChild(button);
      overlay.appendChild(card);
    });
    section.appendChild(overlay);
    return section;
  }

  function loadMore() {
    if (loading || !nextCursor || !window.fetch) return;
    loading = true;
    var url = apiUrl + "?cursor=" + encodeURIComponent(nextCursor);
    fetch(url, { headers: { Accept: "application/json" }, credentials: "omit" })
      .then(function (response) {
        if (!response.ok) throw new Error("feed " + response.status);
        return response.json();
      })
      .then(function (page) {
        var more = feed.querySelector(".feed-more");
        var fragment = document.createDocumentFragment();
        page.items.forEach(function (item) { fragment.appendChild(render(item)); });
        var added = Array.prototype.slice.call(fragment.childNodes);
        feed.insertBefore(fragment, more);
        added.forEach(function (node) { observer.observe(node); });
        showSoundButton();
        nextCursor = page.next_cursor || "";
        if (more) {
          if (nextCursor) more.href = "?cursor=" + encodeURIComponent(nextCursor);
          else more.remove();
        }
      })
      .catch(function () {})
      .then(function () { loading = false; });
  }

  observeAll();
})();
