/* Shoploop shoppable feed: autoplay the visible video (HLS where possible), preload the next
 * item, page in more items from the JSON API, shop-the-look tags and sheet, save and share,
 * and count impressions and card clicks, with the feed's placement, in batched beacons.
 * No dependencies (hls.js is loaded on demand); user text is only ever set with textContent. */
(function () {
  "use strict";

  var feed = document.querySelector(".ugc-feed");
  if (!feed) return;

  var eventsUrl = feed.getAttribute("data-events");
  var apiUrl = feed.getAttribute("data-api");
  var nextCursor = feed.getAttribute("data-next-cursor") || "";
  var placement = feed.getAttribute("data-placement") || "home_feed";
  var loading = false;
  var seen = new Set();
  var queue = { impressions: [], clicks: [] };
  var MAX_PER_BEACON = 50;
  var SEND_EVERY_MS = 4000;

  // --- counting ---------------------------------------------------------------------
  function send() {
    while (queue.impressions.length || queue.clicks.length) {
      var body = { impressions: [], clicks: [], placement: placement };
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
    if (!event.target.closest) return;
    var tag = event.target.closest(".feed-tag");
    if (tag && openLook(tag)) {
      event.preventDefault();
      return;
    }
    var save = event.target.closest(".feed-save");
    if (save) return toggleSaved(save);
    var share = event.target.closest(".feed-share");
    if (share) return shareItem(share);
    var button = event.target.closest(".feed-card-button, .feed-tag");
    if (!button) return;
    var id = parseInt(button.getAttribute("data-item"), 10);
    if (id > 0) {
      queue.clicks.push(id);
      send(); // the beacon outlives the navigation that follows
    }
  });

  // --- shop the look: a tag opens the item's sheet at its product; tags of a video show
  // only in their time range ------------------------------------------------------------
  function openLook(tag) {
    var item = tag.closest(".feed-item");
    var look = item && item.querySelector(".feed-look");
    if (!look) return false;  // one product: the tag is its link
    look.open = true;
    var id = tag.getAttribute("data-product");
    var cards = look.querySelectorAll(".feed-card");
    for (var i = 0; i < cards.length; i++) {
      var match = cards[i].getAttribute("data-product") === id;
      cards[i].classList.toggle("is-picked", match);
      if (match && cards[i].scrollIntoView) cards[i].scrollIntoView({ block: "nearest" });
    }
    return true;
  }

  function timeTags(video) {
    var item = video.closest(".feed-item");
    var tags = item ? item.querySelectorAll(".feed-tag[data-start], .feed-tag[data-end]") : [];
    if (!tags.length) return;
    video.addEventListener("timeupdate", function () {
      var now = video.currentTime;
      for (var i = 0; i < tags.length; i++) {
        var start = parseFloat(tags[i].getAttribute("data-start") || "0");
        var end = parseFloat(tags[i].getAttribute("data-end") || "Infinity");
        tags[i].classList.toggle("is-off", now < start || now > end);
      }
    });
  }

  // --- save (kept in this browser) and share (Web Share API, else copy the link) ---------
  var SAVED_KEY = "shoploop.ugc.saved";
  var savedButton = document.querySelector(".feed-saved");

  function savedIds() {
    try {
      var ids = JSON.parse(window.localStorage.getItem(SAVED_KEY) || "[]");
      return Array.isArray(ids) ? ids.filter(function (id) { return id > 0; }) : [];
    } catch (error) {
      return [];
    }
  }

  function storeSaved(ids) {
    try { window.localStorage.setItem(SAVED_KEY, JSON.stringify(ids.slice(-200))); } catch (e) {}
  }

  function showSaved(root) {
    var ids = savedIds();
    var buttons = (root || feed).querySelectorAll(".feed-save");
    for (var i = 0; i < buttons.length; i++) {
      var on = ids.indexOf(parseInt(buttons[i].getAttribute("data-item"), 10)) !== -1;
      buttons[i].setAttribute("aria-pressed", on ? "true" : "false");
      buttons[i].textContent = on ? "Saved" : "Save";
      buttons[i].closest(".feed-item").classList.toggle("is-saved", on);
    }
    if (savedButton) {
      savedButton.hidden = ids.length === 0 && !feed.classList.contains("only-saved");
      savedButton.querySelector(".feed-saved-count").textContent = String(ids.length);
    }
  }

  function toggleSaved(button) {
    var id = parseInt(button.getAttribute("data-item"), 10);
    var ids = savedIds();
    var at = ids.indexOf(id);
    if (at === -1) ids.push(id); else ids.splice(at, 1);
    storeSaved(ids);
    showSaved();
  }

  if (savedButton) {
    savedButton.addEventListener("click", function () {
      var only = feed.classList.toggle("only-saved");
      savedButton.setAttribute("aria-pressed", only ? "true" : "false");
      showSaved();
    });
  }

  function flash(button, text) {
    var before = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", before);
    button.textContent = text;
    setTimeout(function () { button.textContent = before; }, 2000);
  }

  function copyFallback(button, url) {
    // No clipboard access: show the link selected, for the shopper to copy.
    var field = button.parentNode.querySelector(".feed-share-link");
    if (!field) {
      field = el("input", "feed-share-link");
      field.readOnly = true;
      field.setAttribute("aria-label", "Link to share");
      button.parentNode.appendChild(field);
    }
    field.value = url;
    field.focus();
    field.select();
  }

  function shareItem(button) {
    var url = button.getAttribute("data-url");
    if (!url) return;
    if (navigator.share) {
      navigator.share({ title: button.getAttribute("data-title") || document.title, url: url })
        .catch(function () {});  // dismissed by the shopper
      return;
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(url).then(
        function () { flash(button, "Link copied"); },
        function () { copyFallback(button, url); }
      );
      return;
    }
    copyFallback(button, url);
  }

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
        fallBackToMp4(video);
        return;
      }
      var hls = new Hls({ capLevelToPlayerSize: true, maxBufferLength: 10 });
      hls.on(Hls.Events.ERROR, function (event, data) {
        if (data.fatal) {  // fall back to the MP4s for good
          hls.destroy();
          video.removeAttribute("src");
          video.load();
          fallBackToMp4(video);
        }
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      video.setAttribute("data-stream", "hls.js");
      if (video.getAttribute("data-wants-play")) {
        var playing = video.play();
        if (playing && playing.catch) playing.catch(function () {});
      }
    }).catch(function () { fallBackToMp4(video); });
  }

  function fallBackToMp4(video) {
    // The MP4 <source>s play instead, and the clip starts if it was meant to be playing.
    video.setAttribute("data-stream", "mp4");
    if (video.getAttribute("data-wants-play")) {
      var playing = video.play();
      if (playing && playing.catch) playing.catch(function () {});
    }
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

  function card(item, product) {
    var node = el("div", "feed-card");
    node.setAttribute("data-product", String(product.id));
    if (product.image_url) {
      var image = el("img", "feed-card-image");
      image.src = product.image_url;
      image.alt = product.image_alt;
      image.width = 56;
      image.height = 56;
      image.loading = "lazy";
      node.appendChild(image);
    }
    var text = el("div", "feed-card-text");
    text.appendChild(el("p", "feed-card-title", product.title));
    if (product.price) text.appendChild(el("p", "feed-card-price", product.price));
    node.appendChild(text);
    var button = el("a", "feed-card-button", "Shop");
    button.href = cardHref(product); // this host: the short link redirect
    button.setAttribute("data-item", String(item.id));
    node.appendChild(button);
    return node;
  }

  function cardHref(product) {
    return product.link_path + "?ugc_placement=" + encodeURIComponent(placement);
  }

  function tagNode(item, product) {
    var tag = el("a", product.tag.x > 0.5 ? "feed-tag feed-tag-flip" : "feed-tag");
    tag.href = cardHref(product);
    tag.setAttribute("data-item", String(item.id));
    tag.setAttribute("data-product", String(product.id));
    tag.style.left = (product.tag.x * 100).toFixed(2) + "%";
    tag.style.top = (product.tag.y * 100).toFixed(2) + "%";
    if (product.tag.start_s !== null) tag.setAttribute("data-start", String(product.tag.start_s));
    if (product.tag.end_s !== null) tag.setAttribute("data-end", String(product.tag.end_s));
    tag.setAttribute("aria-label", product.title);
    tag.appendChild(el("span", "feed-tag-dot"));
    tag.appendChild(el("span", "feed-tag-label", product.title));
    return tag;
  }

  function render(item) {
    var section = el("section", "feed-item");
    section.setAttribute("data-id", String(item.id));
    section.setAttribute("data-kind", item.media.kind);
    var media = item.media;
    var frame = el("div", "feed-frame");
    if (media.width && media.height) {
      frame.style.setProperty("--ar", media.width + " / " + media.height);
    }
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
      frame.appendChild(video);
    } else if (media.display_url) {
      var img = el("img", "feed-media");
      img.src = media.display_url;
      img.alt = (item.caption || "A customer photo").slice(0, 120);
      img.loading = "lazy";
      frame.appendChild(img);
    }
    item.products.forEach(function (product) {
      if (product.tag) frame.appendChild(tagNode(item, product));
    });
    section.appendChild(frame);

    var actions = el("div", "feed-actions");
    var save = el("button", "feed-save", "Save");
    save.type = "button";
    save.setAttribute("aria-pressed", "false");
    save.setAttribute("data-item", String(item.id));
    actions.appendChild(save);
    if (item.products.length) {
      var share = el("button", "feed-share", "Share");
      share.type = "button";
      share.setAttribute("data-item", String(item.id));
      share.setAttribute("data-url", item.products[0].link_url);
      share.setAttribute("data-title", item.products[0].title);
      actions.appendChild(share);
    }
    section.appendChild(actions);

    var overlay = el("div", "feed-overlay");
    if (item.author_handle) overlay.appendChild(el("p", "feed-author", "@" + item.author_handle));
    if (item.caption) overlay.appendChild(el("p", "feed-caption", item.caption));
    if (item.watch_url) {
      var watch = el("a", "feed-watch", "Watch on TikTok");
      watch.href = item.watch_url;
      watch.target = "_blank";
      watch.rel = "noopener noreferrer";
      overlay.appendChild(watch);
    }
    if (item.products.length) overlay.appendChild(card(item, item.products[0]));
    if (item.products.length > 1) {
      var look = el("details", "feed-look");
      look.appendChild(el("summary", "", "Shop the look (" + item.products.length + ")"));
      var sheet = el("div", "feed-look-sheet");
      sheet.setAttribute("role", "list");
      item.products.forEach(function (product) {
        var entry = card(item, product);
        entry.setAttribute("role", "listitem");
        sheet.appendChild(entry);
      });
      look.appendChild(sheet);
      overlay.appendChild(look);
    }
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
        added.forEach(function (node) {
          observer.observe(node);
          var video = node.querySelector("video.feed-media");
          if (video) timeTags(video);
        });
        showSoundButton();
        showSaved();
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
  var videos = feed.querySelectorAll("video.feed-media");
  for (var v = 0; v < videos.length; v++) timeTags(videos[v]);
  showSaved();
})();
