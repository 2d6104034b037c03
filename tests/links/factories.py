import factory

from creators.models import Creator
from links.models import AllowedDomain, Campaign


class CreatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Creator

    name = factory.Sequence(lambda n: f"Creator {n}")
    handle = factory.Sequence(lambda n: f"creator{n}")
    email = factory.Sequence(lambda n: f"creator{n}@example.com")
    affiliate_code = factory.Sequence(lambda n: f"CODE{n}")


class AllowedDomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AllowedDomain
        django_get_or_create = ["domain"]

    domain = "shop.example.com"


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    slug = factory.Sequence(lambda n: f"campaign-{n}")
    utm_source = "tiktok"
    utm_medium = "creator"
    utm_campaign = "spring"
