from django.db import models
from django.db.models.functions import Lower


class Creator(models.Model):
    """A creator who shares links and earns commission (the portal comes later)."""

    class Status(models.TextChoices):
        APPLIED = "applied", "Applied"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        REMOVED = "removed", "Removed"

    name = models.CharField(max_length=120)
    handle = models.SlugField(
        max_length=60, help_text="Their public handle, e.g. maya.makes (letters, digits, - and _)."
    )
    email = models.EmailField(blank=True)
    affiliate_code = models.SlugField(
        max_length=40, help_text="Carried in links as the affiliate parameter, e.g. MAYA10."
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("handle"),
                name="creators_creator_handle_ci_unique",
                violation_error_message="Another creator already has this handle.",
            ),
            models.UniqueConstraint(
                Lower("affiliate_code"),
                name="creators_creator_affiliate_code_ci_unique",
                violation_error_message="Another creator already has this affiliate code.",
            ),
        ]

    def __str__(self):
        return f"{self.name} (@{self.handle})"


# --- creator portal (issue 15): accounts, applications, invitations, licences ---
from creators.portal_models import *  # noqa: E402,F403 - in their own module

# --- end creator portal ---
# isort: split
# --- programs, groups, rules, discount codes (issue 13) ---
from creators.program_models import *  # noqa: E402,F403 - in their own module

# --- end programs ---
# isort: split
from creators.sample_models import ProductRequest  # noqa: E402,F401 - issue 18
