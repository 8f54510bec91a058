// kasynq web console: live counts over server-sent events, and confirmations of deletions.
// Values are placed with textContent only, so nothing from Redis is ever parsed as HTML.
"use strict";

function applyOverview(data) {
  const live = document.getElementById("live");
  let unknown = 0;
  for (const [queue, fields] of Object.entries(data.queues)) {
    const holders = document.querySelectorAll("[data-queue]");
    let seen = false;
    for (const holder of holders) {
      if (holder.dataset.queue !== queue) continue;
      seen = true;
      for (const cell of holder.querySelectorAll("[data-field]")) {
        const value = fields[cell.dataset.field];
        if (value !== undefined) cell.textContent = String(value);
      }
    }
    if (!seen && document.getElementById("queues")) unknown += 1;
  }
  if (live) {
    const time = new Date().toISOString().slice(11, 19);
    live.textContent = unknown ? `live ${time} · ${unknown} new queues, reload` : `live ${time}`;
  }
}

function connect() {
  if (!document.querySelector("[data-queue]") || !window.EventSource) return;
  const source = new EventSource("/events");
  source.addEventListener("overview", (event) => applyOverview(JSON.parse(event.data)));
  source.addEventListener("trouble", (event) => {
    const live = document.getElementById("live");
    if (live) live.textContent = `Redis trouble: ${JSON.parse(event.data)}`;
  });
}

document.addEventListener("submit", (event) => {
  const question = event.target.dataset ? event.target.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
});

document.addEventListener("DOMContentLoaded", connect);
