// One batch's page: counts and products as the server pushes them (Server-Sent Events).
"use strict";

(() => {
  const root = document.getElementById("batch");
  if (!root) return;
  const jobPage = (id) => root.dataset.jobPage.replace("JOB_ID", encodeURIComponent(id));

  function item(entry) {
    const links = [];
    if (entry.job_id) links.push(VF.el("a", { href: jobPage(entry.job_id), text: "Open" }));
    return VF.el("tr", { "data-key": entry.key }, [
      VF.el("td", { text: entry.title || entry.key }),
      VF.el("td", {}, [VF.statusBadge(entry.status)]),
      VF.el("td", {}, links),
      VF.el("td", { text: entry.reason || "" })]);
  }

  function show(batch) {
    root.dataset.status = batch.status;
    const status = document.getElementById("batch-status");
    status.textContent = VF.statusLabel(batch.status);
    status.className = `status status-${batch.status}`;
    Object.entries(batch.counts || {}).forEach(([key, value]) => {
      const cell = root.querySelector(`[data-count="${key}"]`);
      if (cell) cell.textContent = value;
    });
    const error = document.getElementById("batch-error");
    error.hidden = !batch.error;
    error.textContent = batch.error ? batch.error.message : "";
    document.getElementById("batch-items").replaceChildren(...(batch.items || []).map(item));
  }

  VF.follow(root.dataset.events, "batch", show,
    (end) => VF.notice(`The batch is finished: ${VF.statusLabel(end.status)}.`));
})();
