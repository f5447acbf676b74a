// OpenHITL service worker: push notifications, taps that open the request, an offline page.
"use strict";
const CACHE = "openhitl-shell-v1";
const SHELL = ["/offline"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

// Pages always come from the network (they are live); when it is gone, the offline page answers.
self.addEventListener("fetch", (event) => {
  if (event.request.mode !== "navigate") return;
  event.respondWith(fetch(event.request).catch(() => caches.match("/offline")));
});

self.addEventListener("push", (event) => {
  let message = {};
  try { message = event.data ? event.data.json() : {}; } catch (_) { message = { title: "OpenHITL", body: event.data.text() }; }
  const title = message.title || "New request";
  const options = {
    body: message.body || "",
    tag: message.tag || undefined,
    icon: "/static/icons/icon-192.png",
    badge: "/static/icons/icon-192.png",
    data: { url: message.url || "/", request_id: message.request_id || null },
    renotify: Boolean(message.tag),
    requireInteraction: message.priority === "critical",
  };
  event.waitUntil(
    self.registration.showNotification(title, options).then(() =>
      self.clients.matchAll({ type: "window" }).then((clients) => clients.forEach((client) => client.postMessage({ type: "push", message }))),
    ),
  );
});

// A tap opens the request: in a window of ours if one is open, else in a new one.
async function openFromNotification(data) {
  const target = new URL((data && data.url) || "/", self.location.origin).href;
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const existing = windows.find((client) => new URL(client.url).origin === self.location.origin);
  if (existing) {
    const navigated = await existing.navigate(target);
    if (navigated && "focus" in navigated) navigated.focus().catch(() => {});
    return navigated;
  }
  return self.clients.openWindow(target);
}
self.openFromNotification = openFromNotification;

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(openFromNotification(event.notification.data));
});
