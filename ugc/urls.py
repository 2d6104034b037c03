from django.urls import path

from ugc import consent_views, review_views, views

app_name = "ugc"

urlpatterns = [
    path("shop/feed", views.feed, name="feed"),
    path("shop/feed/events", views.feed_events, name="feed-events"),
    path("shop/collections/<slug:slug>/", views.collection, name="collection"),  # issue 18
    path("ugc/consent/<str:token>/", consent_views.consent, name="consent"),  # issue 18
    path("reviews/write/<str:token>/", review_views.write_review, name="review-write"),
]
