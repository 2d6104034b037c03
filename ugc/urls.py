from django.urls import path

from ugc import views

app_name = "ugc"

urlpatterns = [
    path("shop/feed", views.feed, name="feed"),
    path("shop/feed/events", views.feed_events, name="feed-events"),
]
