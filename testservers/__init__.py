"""Local servers that speak outside platforms' documented protocols (Stripe, Shopify, TikTok
Shop, Meta, Google, PayPal): tests, benchmarks and the demo reach them over real HTTP through
the same configurable base URLs as the real platforms. Each platform module exposes `Server`.
Domain code never imports this package (import-linter checks it)."""
