"""What a destination may sell of a variant: the one place availability is computed.

Today this is the stock on hand. When the sales app reserves and commits stock for orders,
`available_quantity` subtracts them here and every destination follows.
"""


def available_quantity(variant) -> int:
    if not variant.active:
        return 0
    return max(0, int(variant.stock_on_hand or 0))
