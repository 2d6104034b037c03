"""Carriers a parcel can go with: our code, the name shoppers read, the public tracking page,
and the names each channel knows it by (Shopify's `tracking_info.company`, TikTok Shop's
shipping provider list, AfterShip's courier slug for the tracking poll).

A carrier outside this list is refused with the list in the message: a tracking number on a
carrier nobody can look up helps no shopper.
"""

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str
    tracking_url: str  # {number} is replaced by the quoted tracking number
    shopify_company: str
    tiktok_names: tuple[str, ...]
    aftership_slug: str


CARRIERS = {
    c.code: c
    for c in (
        Carrier("ups", "UPS", "https://www.ups.com/track?tracknum={number}", "UPS",
                ("UPS",), "ups"),
        Carrier("usps", "USPS", "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
                "USPS", ("USPS",), "usps"),
        Carrier("fedex", "FedEx", "https://www.fedex.com/fedextrack/?trknbr={number}", "FedEx",
                ("FedEx",), "fedex"),
        Carrier("dhl", "DHL Express", "https://www.dhl.com/en/express/tracking.html?AWB={number}",
                "DHL Express", ("DHL", "DHL Express"), "dhl"),
        Carrier("royal_mail", "Royal Mail",
                "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
                "Royal Mail", ("Royal Mail",), "royal-mail"),
        Carrier("dpd", "DPD", "https://www.dpd.co.uk/apps/tracking/?parcel={number}", "DPD UK",
                ("DPD",), "dpd-uk"),
    )
}  # fmt: skip
CARRIER_CHOICES = [(c.code, c.name) for c in CARRIERS.values()]


def normalise(value: str) -> str:
    """`UPS`, ` ups ` or `Royal Mail` -> our code, or '' if we do not know the carrier."""
    text = (value or "").strip().lower()
    if text in CARRIERS:
        return text
    for carrier in CARRIERS.values():
        names = {carrier.name.lower(), carrier.shopify_company.lower(), carrier.aftership_slug}
        names |= {n.lower() for n in carrier.tiktok_names}
        if text in names or text.replace(" ", "_") == carrier.code:
            return carrier.code
    return ""


def known() -> str:
    return ", ".join(CARRIERS)


def tracking_url(code: str, number: str) -> str:
    carrier = CARRIERS.get(code)
    if carrier is None or not number:
        return ""
    return carrier.tracking_url.replace("{number}", quote(number, safe=""))


def name(code: str) -> str:
    carrier = CARRIERS.get(code)
    return carrier.name if carrier else code
