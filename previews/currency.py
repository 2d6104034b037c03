"""ISO 4217 codes and the currency symbols shops print, for reading scraped prices.

`previews` depends on no other app (see ARCHITECTURE.md), so it keeps its own copy of the
active ISO 4217 codes instead of importing `catalog.currencies`. It only needs to know
whether a code exists and which few currencies have three decimals.
"""

CURRENCY_CODES = frozenset(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR
    ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA
    MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK
    PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC
    SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND
    VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """.split()
)

# Currencies whose prices carry three decimals: "12.500 KWD" is twelve and a half dinars,
# not twelve thousand five hundred.
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})

# Symbols that name one currency. "C$" is also the Nicaraguan córdoba, but on the shops
# Shoploop reads it is the Canadian dollar.
SYMBOLS: dict[str, str] = {
    "US$": "USD",
    "CA$": "CAD",
    "C$": "CAD",
    "AU$": "AUD",
    "A$": "AUD",
    "NZ$": "NZD",
    "HK$": "HKD",
    "S$": "SGD",
    "MX$": "MXN",
    "R$": "BRL",
    "€": "EUR",
    "£": "GBP",
    "₹": "INR",
    "円": "JPY",
    "₩": "KRW",
    "₽": "RUB",
    "₺": "TRY",
    "₪": "ILS",
    "₫": "VND",
    "₱": "PHP",
    "₴": "UAH",
    "zł": "PLN",
    "Kč": "CZK",
}

# Symbols several currencies share. The currency the page declares (the hint) wins; without
# one the default is the usual reading ("$" is USD, "¥" is JPY), or none at all for "kr".
AMBIGUOUS_SYMBOLS: dict[str, str | None] = {
    "$": "USD",
    "¥": "JPY",
    "kr": None,
}


def valid_code(value) -> str | None:
    """`value` as an upper-case ISO 4217 code, or None if it is not one."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    return code if code in CURRENCY_CODES else None
