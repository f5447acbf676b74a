"""Reviewer notifications: Web Push subscriptions, the VAPID key, per-loop preferences."""
