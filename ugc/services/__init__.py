"""Every write to UGC, one module per sub-domain; the public services are re-exported here.

- `moderation`: the state machine (`ALLOWED`, `_lock`, `_target`, `_event`, `_apply`),
  claims, approve, reject, requeue, publish (with the rights gate), archive, and the audit;
- `rights`: granting and revoking rights, archiving items whose rights lapsed;
- `mapping`: mapping items to products and variants;
- `ingest`: `ugc_ingest`, type sniffing, hashes, duplicates and the blocklist;
- `media`: the media job that makes an item's display copy, thumbnail and renditions;
- `feed`: the feed cards' short links and the feed metrics;
- `lists`: the merchant's rejection reasons and blocklist;
- `social`, `rights_requests`: pulled posts and asking their authors for rights (issue 18);
- `looks`: shop-the-look tags (where each product is in the frame);
- `schedule`: the publishing calendar and the job that publishes due entries;
- `collections`: curated collections and their ordered items;
- `portal`: a creator's upload from the portal, withdrawal of consent, erasure (issue 15).

Callers use `from ugc import services` and `services.ugc_claim(...)`.
"""

from ugc.media_files import media_folder
from ugc.services.collections import (
    ugc_collection_add_item,
    ugc_collection_save,
    ugc_collection_set_items,
)
from ugc.services.feed import (
    item_link_utm,
    make_card_links,
    ugc_card_links_backfill,
    ugc_item_link_get_or_create,
    ugc_metrics_add,
)
from ugc.services.ingest import (
    BlocklistHit,
    InspectedMedia,
    Sniffed,
    blocklist_hits,
    duplicate_flags,
    hamming,
    inspect_media,
    normalize_text,
    perceptual_hash,
    sniff,
    ugc_ingest,
)
from ugc.services.lists import (
    DEFAULT_REJECTION_REASONS,
    blocklist_entry_save,
    rejection_reason_save,
    rejection_reasons_add_defaults,
)
from ugc.services.looks import ugc_tag_product
from ugc.services.mapping import ugc_map_product, ugc_unmap_product
from ugc.services.media import MediaProcessingError, ugc_media_process, ugc_media_retry
from ugc.services.moderation import (
    ALLOWED,
    approval_warnings,
    claim_timeout,
    publish_blockers,
    rights_problem,
    ugc_approve,
    ugc_archive,
    ugc_claim,
    ugc_publish,
    ugc_reject,
    ugc_release_stale_claims,
    ugc_requeue,
)
from ugc.services.portal import (  # creator portal (issue 15)
    ugc_creator_erase,
    ugc_portal_submit,
    ugc_portal_withdraw,
)
from ugc.services.reviews import review_publish, review_reject, review_submit  # issue 18
from ugc.services.rights import ugc_archive_expired_rights, ugc_rights_grant, ugc_rights_revoke
from ugc.services.rights_requests import (  # issue 18
    rights_request_answer,
    rights_request_create,
    rights_request_mark_sent,
    rights_request_record_reply,
    rights_requests_expire,
)
from ugc.services.schedule import (
    ugc_schedule_cancel,
    ugc_schedule_create,
    ugc_schedule_run_due,
)
from ugc.services.social import ugc_social_ingest, ugc_social_mark_deleted  # issue 18

__all__ = [
    "ALLOWED",
    "ugc_collection_add_item",
    "ugc_collection_save",
    "ugc_collection_set_items",
    "DEFAULT_REJECTION_REASONS",
    "BlocklistHit",
    "InspectedMedia",
    "MediaProcessingError",
    "Sniffed",
    "approval_warnings",
    "blocklist_entry_save",
    "blocklist_hits",
    "claim_timeout",
    "duplicate_flags",
    "hamming",
    "inspect_media",
    "item_link_utm",
    "make_card_links",
    "media_folder",
    "normalize_text",
    "perceptual_hash",
    "publish_blockers",
    "rejection_reason_save",
    "rejection_reasons_add_defaults",
    "rights_problem",
    "sniff",
    "ugc_approve",
    "ugc_archive",
    "ugc_archive_expired_rights",
    "ugc_card_links_backfill",
    "ugc_claim",
    "ugc_ingest",
    "ugc_item_link_get_or_create",
    "ugc_map_product",
    "ugc_media_process",
    "ugc_media_retry",
    "ugc_metrics_add",
    "ugc_publish",
    "ugc_reject",
    "ugc_release_stale_claims",
    "ugc_requeue",
    "ugc_rights_grant",
    "ugc_rights_revoke",
    "ugc_unmap_product",
    "ugc_tag_product",  # shop the look (issue 18)
    "ugc_schedule_cancel",  # publishing calendar (issue 18)
    "ugc_schedule_create",
    "ugc_schedule_run_due",
    "ugc_creator_erase",  # creator portal (issue 15)
    "ugc_portal_submit",
    "ugc_portal_withdraw",
    "rights_request_answer",  # social pulls and rights requests (issue 18)
    "rights_request_create",
    "rights_request_mark_sent",
    "rights_request_record_reply",
    "rights_requests_expire",
    "ugc_social_ingest",
    "ugc_social_mark_deleted",
    "review_publish",  # on-site reviews (issue 18)
    "review_reject",
    "review_submit",
]
