"""Who moderates: only users with `ugc.moderate_ugcitem` (the Moderator and Owner roles).

Others with view permission see the queue read-only; uploading needs `ugc.add_ugcitem`.
"""

MODERATE_PERM = "ugc.moderate_ugcitem"
UPLOAD_PERM = "ugc.add_ugcitem"


def can_moderate(request) -> bool:
    return request.user.is_active and request.user.has_perm(MODERATE_PERM)


def can_upload(request) -> bool:
    return request.user.is_active and request.user.has_perm(UPLOAD_PERM)
