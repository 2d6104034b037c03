"""Demo data: a realistic catalog, creators and links, demo UGC (`demo/ugc.py`) and an
admin login. Running it twice changes nothing."""

import io
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from PIL import Image, ImageDraw, ImageFont

from catalog import services
from catalog.models import Product
from catalog.validators import gtin_check_digit
from creators.models import Creator
from creators.services import creator_create
from demo.sales import DEMO_SECRETS, seed_sales
from demo.ugc import DEMO_SOURCE, seed_ugc
from links.models import Campaign, ShortLink
from links.services import link_create
from ugc.models import RejectionReason, UGCItem

# (title, brand, description, colour, shape, currency, variants: (suffix, attributes, price, stock))
PRODUCTS = [
    ("Cloud Knit Hoodie", "Northloop", "Brushed-back cotton hoodie with a relaxed fit.",
     (94, 129, 172), "hoodie", "USD",
     [("S", {"size": "S"}, "59.00", 14), ("M", {"size": "M"}, "59.00", 22),
      ("L", {"size": "L"}, "59.00", 0)]),
    ("Glow Serum 30 ml", "Lumen Lab", "Vitamin C serum for an even, bright complexion.",
     (236, 164, 92), "bottle", "USD", [("30", {"volume": "30 ml"}, "24.99", 120)]),
    ("Trail Runner 2", "Stride Co", "Lightweight trail shoe with a grippy outsole.",
     (76, 153, 115), "shoe", "EUR",
     [("42", {"size": "42"}, "119.00", 6), ("43", {"size": "43"}, "119.00", 9),
      ("44", {"size": "44"}, "119.00", 3)]),
    ("Ceramic Pour-Over Set", "Kiln & Co", "Hand-glazed dripper and carafe for two cups.",
     (200, 120, 100), "cup", "EUR", [("SET", {"colour": "Sand"}, "48.50", 25)]),
    ("Wireless Earbuds Mini", "Sonic", "Pocket-size earbuds with 28 hours of battery.",
     (40, 40, 48), "circle", "USD",
     [("BLK", {"colour": "Black"}, "79.00", 40), ("WHT", {"colour": "White"}, "79.00", 31)]),
    ("Everyday Tote", "Northloop", "Waxed canvas tote with a padded laptop sleeve.",
     (150, 120, 80), "bag", "USD", [("OS", {"colour": "Olive"}, "45.00", 18)]),
    ("Matte Lip Tint", "Lumen Lab", "Weightless, long-wear lip tint in six shades.",
     (204, 60, 90), "bottle", "EUR",
     [("ROSE", {"shade": "Rose"}, "14.90", 60), ("BRICK", {"shade": "Brick"}, "14.90", 0)]),
    ("Insulated Bottle 750 ml", "Stride Co", "Keeps drinks cold for 24 hours, hot for 12.",
     (70, 130, 180), "bottle", "USD", [("750", {"volume": "750 ml"}, "32.00", 75)]),
    ("Linen Throw Pillow", "Kiln & Co", "Stonewashed linen cover with a feather insert.",
     (180, 170, 150), "square", "EUR", [("50", {"size": "50×50 cm"}, "39.00", 12)]),
    ("Phone Grip Stand", "Sonic", "Collapsible grip that doubles as a stand for filming.",
     (120, 90, 200), "circle", "USD", [("LAV", {"colour": "Lavender"}, "12.00", 300)]),
    ("Recycled Yoga Mat", "Stride Co", "5 mm natural rubber mat with alignment lines.",
     (90, 160, 150), "square", "EUR", [("TEAL", {"colour": "Teal"}, "68.00", 8)]),
    ("Silk Scrunchie Trio", "Lumen Lab", "Three mulberry silk scrunchies, gentle on hair.",
     (230, 200, 210), "circle", "USD", [("TRIO", {"colour": "Blush"}, "18.00", 90)]),
]  # fmt: skip


DEMO_CREATORS = [("Maya Makes", "maya-makes", "MAYA10"), ("Leo Lifts", "leo-lifts", "LEO15")]


def demo_gtin(index: int, variant_index: int) -> str:
    body = f"40{index:05d}{variant_index:05d}"  # 12 digits; "40" is a GS1 Germany prefix
    return body + str(gtin_check_digit(body))


def draw_product_image(title: str, colour: tuple, shape: str) -> bytes:
    """A 1200×1200 studio-style shot drawn with Pillow, as PNG."""
    out = io.BytesIO()
    product_picture(title, colour, shape).save(out, format="PNG")
    return out.getvalue()


def product_picture(title: str, colour: tuple, shape: str) -> Image.Image:
    """The 1200×1200 studio-style shot (the demo UGC reuses it)."""
    size = 1200
    image = Image.new("RGB", (size, size), (246, 244, 241))
    draw = ImageDraw.Draw(image)
    for y in range(size):  # soft vertical gradient
        shade = 246 - int(18 * y / size)
        draw.line([(0, y), (size, y)], fill=(shade, shade - 2, shade - 5))
    draw.ellipse([300, 930, 900, 1010], fill=(215, 212, 208))  # shadow
    dark = tuple(max(0, c - 45) for c in colour)
    if shape == "bottle":
        draw.rounded_rectangle([470, 330, 730, 960], radius=60, fill=colour, outline=dark, width=8)
        draw.rectangle([540, 230, 660, 340], fill=dark)
    elif shape == "shoe":
        draw.rounded_rectangle([240, 640, 980, 900], radius=120, fill=colour, outline=dark, width=8)
        draw.rounded_rectangle([240, 860, 1000, 940], radius=30, fill=(250, 250, 250))
    elif shape == "cup":
        draw.rounded_rectangle([380, 420, 820, 940], radius=80, fill=colour, outline=dark, width=8)
        draw.arc([760, 520, 940, 760], 270, 90, fill=dark, width=30)
    elif shape == "hoodie":
        outline = [(300, 380), (480, 300), (720, 300), (900, 380), (960, 700), (840, 720),
                   (820, 960), (380, 960), (360, 720), (240, 700)]  # fmt: skip
        draw.polygon(outline, fill=colour, outline=dark)
        draw.ellipse([500, 260, 700, 420], fill=dark)
    elif shape == "bag":
        draw.rounded_rectangle([330, 450, 870, 960], radius=40, fill=colour, outline=dark, width=8)
        draw.arc([450, 250, 750, 600], 180, 360, fill=dark, width=28)
    elif shape == "square":
        draw.rounded_rectangle([300, 360, 900, 960], radius=70, fill=colour, outline=dark, width=8)
    else:
        draw.ellipse([330, 360, 870, 900], fill=colour, outline=dark, width=10)
    font = ImageFont.load_default(size=54)
    draw.text((size // 2, 130), title, fill=(40, 40, 45), font=font, anchor="mm")
    return image


class Command(BaseCommand):
    help = (
        "Create demo products with images and variants, creators and links, demo UGC "
        "(published and queued) and an admin user (idempotent)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even with DEBUG off (creates a known admin login: never on a live shop).",
        )
        parser.add_argument(
            "--skip-ugc", action="store_true", help="Seed the catalog only, no demo UGC."
        )

    def handle(self, *args, allow_production=False, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "seed_demo creates an admin with a known password; it runs only with DEBUG=true "
                "(or --allow-production on a throwaway database)."
            )
        created = 0
        for index, row in enumerate(PRODUCTS, start=1):
            created += self.seed_product(index, *row)
        links_created = self.seed_links()
        user, user_created = self.seed_admin()
        self.stdout.write(
            f"Demo catalog: {Product.objects.count()} products ({created} new), "
            f"{ShortLink.objects.count()} short links ({links_created} new). "
            f"Admin: {user.get_username()} ({'new' if user_created else 'existing'})."
        )
        # --- sales (issue 12): one demo channel per provider ---
        from core.absolute_urls import absolute_url

        for channel in seed_sales():
            self.stdout.write(
                f"Demo channel {channel.name}: {absolute_url(channel.webhook_path())} "
                f"secret {DEMO_SECRETS[channel.provider]}"
                + (f" app key {channel.app_key}" if channel.app_key else "")
            )
        # --- end sales ---
        # --- ledger (issue 14): payout details and demo commissions ---
        from demo.ledger import seed_ledger

        ledger_demo = seed_ledger()
        if ledger_demo:
            self.stdout.write(
                f"Demo ledger: {ledger_demo['commissions']} commissions "
                f"({ledger_demo['paid']} paid, {ledger_demo['available']} available to pay, "
                f"{ledger_demo['pending']} pending, {ledger_demo['held']} held for review); "
                "payout details for maya-makes (by hand) and leo-lifts (PayPal). See "
                "/admin/sales/creatorbalance/, make a payout run as admin and approve it as "
                "demo-finance (password as admin's)."
            )
        # --- end ledger ---
        # --- fulfilment (issue 19): a shipped and a delivered order, with their pages ---
        from demo.fulfilment import describe, seed_fulfilment

        shipped = seed_fulfilment()
        if shipped:
            self.stdout.write(
                f"Demo parcels: {describe(shipped)}. Ship more from an order's page in "
                "/admin/sales/order/; low stock: /admin/sales/fulfilment/low-stock/."
            )
        # --- end fulfilment ---
        if options.get("skip_ugc"):
            return
        ugc = seed_ugc()
        published = UGCItem.objects.filter(
            source=DEMO_SOURCE, status=UGCItem.Status.PUBLISHED
        ).count()
        queued = UGCItem.objects.filter(source=DEMO_SOURCE, status=UGCItem.Status.QUEUED).count()
        reasons = RejectionReason.objects.filter(active=True).count()
        self.stdout.write(
            f"Demo UGC: {published} published, {queued} queued for moderation "
            f"({ugc.created} new; "
            f"{'with video clips' if ugc.videos else 'images only: ffmpeg not found'}), "
            f"{reasons} rejection reasons ({ugc.reasons_added} new). See /shop/feed."
        )
        for problem in ugc.problems:
            self.stderr.write(f"Demo UGC item {problem}")
        # --- issue 18: a tagged look, a tagged video, a scheduled item ---
        from demo.looks import seed_looks

        looks = seed_looks()
        when = (
            f"demo-12 scheduled for {looks.scheduled.publish_at:%Y-%m-%d %H:%M}"
            if looks.scheduled
            else "nothing to schedule"
        )
        from demo.looks import seed_collection

        weekend = seed_collection()
        self.stdout.write(
            f"Demo shop the look: {looks.tags} product tags (demo-1, demo-5); {when}; "
            f"collection {weekend.get_absolute_url()}. "
            "See /shop/feed, /admin/ugc/ugcschedule/calendar/ and "
            "/admin/ugc/ugcmetricdaily/placements/."
        )
        # --- end issue 18 ---
        # --- creator portal (issue 15): a program to apply to, and Maya's portal login ---
        from demo.portal import seed_portal

        portal = seed_portal()
        if portal is not None:
            self.stdout.write(
                f"Demo creator portal: /creators/ (login: {portal.email} / the admin's "
                f"password); applications: /creators/apply/{portal.program.slug}/"
            )
        # --- end creator portal ---
        # --- attribution (issue 13): an order credited through a demo UGC card ---
        from demo.ledger import seed_content_order

        if seed_content_order():
            self.stdout.write(
                "Demo attribution: orders credited by a code, a carried click, the cookie's "
                "click and a UGC card (demo-ledger-1 to -4), one held for a self-referral "
                "(demo-ledger-5) in the review queue. See /admin/attribution/attribution/ and "
                "/admin/attribution/heldcommission/."
            )
        # --- end attribution ---
        # --- social pulls, rights requests, reviews, product requests (issue 18) ---
        from demo.social import seed_social

        social = seed_social()
        self.stdout.write(
            f"Demo social: {social.pulled} Instagram posts and {social.videos} TikTok videos "
            "pulled (Integrations › Social sources), "
            f"{social.requests} rights request waiting (UGC › Rights requests), {social.reviews} "
            f"published reviews (/products/trail-runner-2/; their photos are in the UGC queue), "
            f"{social.product_requests} product "
            "request from maya-makes (Creators › Product requests)."
        )
        for problem in social.problems:
            self.stderr.write(f"Demo social: {problem}")
        # --- end social ---
        # --- analytics (issue 16): ninety days of traffic, and the rollups folded ---
        from demo.analytics import seed_analytics

        traffic = seed_analytics()
        self.stdout.write(
            f"Demo dashboard: {traffic['clicks']} new clicks over 90 days, rollups of "
            f"{traffic['days']} days folded. See /admin/ (the console's home)."
        )
        # --- end analytics ---

    @transaction.atomic
    def seed_product(self, index, title, brand, description, colour, shape, currency, variants):
        if Product.objects.filter(title=title, brand=brand).exists():
            return 0
        product = services.product_create(title=title, brand=brand, description=description)
        for position, (suffix, attributes, price, stock) in enumerate(variants):
            services.variant_create(
                product=product,
                sku=f"{brand[:3].upper()}-{index:03d}-{suffix}",
                gtin=demo_gtin(index, position),
                price=Decimal(price),
                currency=currency,
                stock_on_hand=stock,
                attributes=attributes,
                position=position,
                compare_at_price=Decimal(price) * 2 if index % 4 == 0 else None,
            )
        upload = SimpleUploadedFile(f"{product.slug}.png", draw_product_image(title, colour, shape))
        services.product_image_add(product=product, upload=upload, alt_text=f"{title} by {brand}")
        return 1

    @transaction.atomic
    def seed_links(self) -> int:
        """Two creators, a campaign and a short link per creator to three products."""
        campaign = Campaign.objects.filter(slug="spring-drop").first()
        if campaign is None:
            campaign = Campaign.objects.create(
                name="Spring drop", slug="spring-drop", utm_source="tiktok",
                utm_medium="creator", utm_campaign="spring-drop",
            )  # fmt: skip
        made = 0
        for name, handle, code in DEMO_CREATORS:
            creator = Creator.objects.filter(handle=handle).first() or creator_create(
                name=name, handle=handle, affiliate_code=code, email=f"{handle}@example.com"
            )
            for product in Product.objects.order_by("pk")[:3]:
                if ShortLink.objects.filter(creator=creator, product=product).exists():
                    continue
                link_create(product_id=product.pk, creator_id=creator.pk,
                            campaign_id=campaign.pk, utm_content=handle)  # fmt: skip
                made += 1
        return made

    def seed_admin(self):
        User = get_user_model()
        username = settings.DEMO_ADMIN_USERNAME
        user = User.objects.filter(username=username).first()
        if user is not None:
            return user, False
        user = User.objects.create_superuser(
            username=username, email="", password=settings.DEMO_ADMIN_PASSWORD
        )
        owner = Group.objects.filter(name="Owner").first()
        if owner:
            user.groups.add(owner)
        return user, True
