from django.urls import path

from previews import views

app_name = "previews"

urlpatterns = [
    path("previews/card", views.card, name="card"),
    path("previews/card.json", views.card_json, name="card-json"),
]
