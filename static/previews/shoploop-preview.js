/*
 * <shoploop-preview url="https://..."></shoploop-preview>
 *
 * A dependency-free web component that renders the same card as /previews/card, from
 * /previews/card.json on the server this script was loaded from. Every value is set with
 * textContent or as an attribute, never as HTML, so scraped text cannot run as script.
 */
(() => {
  const script = document.currentScript;
  const origin = script ? new URL(script.src, location.href).origin : location.origin;
  const STYLE = `
    :host { display: block; max-width: 520px; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
    a { display: flex; flex-direction: column; border: 1px solid #e5e5ea; border-radius: 14px;
        overflow: hidden; color: #1d1d1f; text-decoration: none; background: #fff; }
    img { width: 100%; aspect-ratio: 1200 / 630; object-fit: cover; background: #f2f2f7; }
    .body { display: flex; flex-direction: column; gap: 4px; padding: 12px 14px; }
    .site { color: #6e6e73; font-size: 12px; text-transform: uppercase; letter-spacing: .05em; }
    .title { font-weight: 600; }
    .price { font-weight: 700; color: #e3165b; }
    .description { color: #3a3a3c; font-size: 14px; }
    .missing { color: #6e6e73; }`;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function safeHref(value) {
    try {
      const url = new URL(value, origin);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (error) {
      return null;
    }
  }

  class ShoploopPreview extends HTMLElement {
    static get observedAttributes() { return ["url"]; }

    constructor() {
      super();
      this.attachShadow({ mode: "open" });
    }

    connectedCallback() { this.load(); }

    attributeChangedCallback(name, before, after) {
      if (before !== after && this.isConnected) this.load();
    }

    async load() {
      const url = this.getAttribute("url");
      if (!url) return this.renderMissing();
      this.setAttribute("aria-busy", "true");
      try {
        const response = await fetch(`${origin}/previews/card.json?url=${encodeURIComponent(url)}`);
        if (!response.ok) {
          // The server says why there is no card: not previewed yet, failed, not allowed.
          const body = await response.json().catch(() => null);
          const message = body && body.error && body.error.message;
          return this.renderMissing(typeof message === "string" ? message : "");
        }
        this.render(await response.json());
      } catch (error) {
        this.renderMissing();
      } finally {
        this.removeAttribute("aria-busy");
      }
    }

    frame() {
      const style = element("style");
      style.textContent = STYLE;
      this.shadowRoot.replaceChildren(style);
      return this.shadowRoot;
    }

    renderMissing(message) {
      this.frame().append(element("p", "missing", message || "No preview of this link yet."));
      this.dispatchEvent(new CustomEvent("shoploop-preview:missing"));
    }

    render(card) {
      const link = element("a");
      const href = safeHref(card.url);
      if (href) link.href = href;
      link.rel = "noopener";
      const image = safeHref(card.image);
      if (image) {
        const img = element("img");
        img.src = image;
        img.alt = "";
        link.append(img);
      }
      const body = element("span", "body");
      body.append(element("span", "site", card.site_name || ""));
      body.append(element("span", "title", card.title || ""));
      const price = card.price_display || (card.price ? `${card.price} ${card.currency || ""}` : "");
      if (price) body.append(element("span", "price", price.trim()));
      if (card.description) body.append(element("span", "description", card.description));
      link.append(body);
      this.frame().append(link);
      this.dispatchEvent(new CustomEvent("shoploop-preview:rendered"));
    }
  }

  if (!customElements.get("shoploop-preview")) {
    customElements.define("shoploop-preview", ShoploopPreview);
  }
})();
