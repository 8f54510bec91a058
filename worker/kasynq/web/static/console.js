// kasynq web console: live counts over server-sent events, and confirmations of deletions.
// Values are placed with textContent only, so nothing from Redis is ever parsed as HTML.
"use strict";

function applyOverview(data) {
  const live = document.getElementById("live");
  const holders = new Map();
  for (const holder of document.querySelectorAll("[data-queue]")) {
    if (!holders.has(holder.dataset.queue)) holders.set(holder.dataset.queue, []);
    holders.get(holder.dataset.queue).push(holder);
  }
  let unknown = 0;
  for (const [queue, fields] of Object.entries(data.queues)) {
    for (const holder of holders.get(queue) || []) {
      for (const cell of holder.querySelectorAll("[data-field]")) {
        const value = fields[cell.dataset.field];
        if (value !== undefined) cell.textContent = String(value);
      }
    }
    if (!holders.has(queue) && document.getElementById("queues")) unknown += 1;
  }
  if (live) {
    const time = new Date().toISOString().slice(11, 19);
    live.textContent = unknown ? `live ${time} · ${unknown} new queues, reload` : `live ${time}`;
  }
}

const SAMPLES = 61;
const samples = [];

// The overview's throughput: per-second rates between successive totals, newest right.
function plotThroughput(data) {
  const svg = document.getElementById("throughput");
  if (!svg) return;
  samples.push({ t: Date.now() / 1000, processed: data.processed_total, failed: data.failed_total });
  if (samples.length > SAMPLES) samples.shift();
  const rates = { "processed/s": [], "failed/s": [] };
  for (let i = 1; i < samples.length; i++) {
    const seconds = Math.max(0.001, samples[i].t - samples[i - 1].t);
    rates["processed/s"].push(Math.max(0, samples[i].processed - samples[i - 1].processed) / seconds);
    rates["failed/s"].push(Math.max(0, samples[i].failed - samples[i - 1].failed) / seconds);
  }
  const box = svg.viewBox.baseVal;
  const margin = Number(svg.dataset.margin);
  const peak = Math.max(1, ...rates["processed/s"], ...rates["failed/s"]);
  const step = (box.width - 2 * margin) / (SAMPLES - 2);
  for (const line of svg.querySelectorAll("polyline[data-series]")) {
    const values = rates[line.dataset.series] || [];
    const offset = SAMPLES - 1 - values.length;
    const points = values.map((value, i) => {
      const x = margin + (offset + i) * step;
      const y = box.height - margin - (value / peak) * (box.height - 2 * margin);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    line.setAttribute("points", points.join(" "));
  }
  svg.querySelector("text.peak").textContent = `peak ${peak.toFixed(1)} ${svg.dataset.unit}`;
}

function connect() {
  if (!document.querySelector("[data-queue]") || !window.EventSource) return;
  const source = new EventSource("/events");
  source.addEventListener("overview", (event) => {
    const data = JSON.parse(event.data);
    applyOverview(data);
    plotThroughput(data);
  });
  source.addEventListener("trouble", (event) => {
    const live = document.getElementById("live");
    if (live) live.textContent = `Redis trouble: ${JSON.parse(event.data)}`;
  });
}

document.addEventListener("submit", (event) => {
  const question = event.target.dataset ? event.target.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
});

// The overview's filter: rows whose queue name does not contain the text are hidden.
document.addEventListener("input", (event) => {
  if (event.target.id !== "queue-filter") return;
  const wanted = event.target.value.trim().toLowerCase();
  for (const row of document.querySelectorAll("#queues tr[data-queue]")) {
    row.hidden = wanted !== "" && !row.dataset.queue.toLowerCase().includes(wanted);
  }
});

document.addEventListener("DOMContentLoaded", connect);
