from django.urls import path

from redis_tuned_loadtest.app import views

urlpatterns = [
    path("cache/<int:key>", views.cached),
    path("health", views.health),
    path("gc", views.gc_pauses),
]
