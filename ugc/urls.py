from django.urls import path

from ugc import consent_views, views

app_name = "ugc"

urlpatterns = [
    path("shop/feed", views.feed, name="feed"),
    path("shop/feed/events", views.feed_events, name="feed-events"),
    path("ugc/consent/<str:token>/", consent_views.consent, name="consent"),  # issue 18
]
