// One video's page: the server pushes the job's state (Server-Sent Events) and this script
// shows it; nothing here asks the server again on a timer.
"use strict";

(() => {
  const root = document.getElementById("job");
  if (!root) return;
  const jobUrl = root.dataset.api;
  const byId = (id) => document.getElementById(id);
  const reviewForm = byId("review-form");
  let current = null; // the last state shown
  let script = null; // the script under review, as GET /script answered it
  let scriptMark = null; // which run of the script stage that script came from
  let stream = null;

  // --- showing a state ---------------------------------------------------------------------

  function showStages(job) {
    Object.entries(job.stages || {}).forEach(([name, stage]) => {
      const row = root.querySelector(`tr[data-stage="${name}"]`);
      if (!row) return;
      row.querySelector("[data-col=status]").replaceChildren(VF.statusBadge(stage.status));
      row.querySelector("[data-col=worker]").textContent = stage.worker || "—";
      row.querySelector("[data-col=time]").textContent = VF.elapsed(stage.started_at,
        stage.finished_at);
    });
  }

  function showResult(job) {
    const video = byId("result-video");
    if (job.video_url && !video.getAttribute("src")) {
      video.src = job.video_url;
      if (!video.querySelector("track")) {
        video.append(VF.el("track", { kind: "captions", srclang: "en", label: "Captions",
          src: video.dataset.captions }));
      }
      byId("download-video").href = job.video_url;
    }
    const caption = (job.content || {}).post_caption;
    if (caption && byId("post-caption").value !== caption) byId("post-caption").value = caption;
    byId("publications").replaceChildren(...(job.publications || []).map((item) => {
      const link = item.url && /^https?:/.test(item.url)
        ? VF.el("a", { href: item.url, text: item.url, rel: "noreferrer" })
        : document.createTextNode(item.error || item.url || item.post_id || "");
      return VF.el("tr", {}, [VF.el("td", { text: item.destination }),
        VF.el("td", {}, [VF.statusBadge(item.state)]), VF.el("td", {}, [link])]);
    }));
  }

  function showCosts(costs) {
    if (!costs) return;
    byId("costs").replaceChildren(...(costs.items || []).map((item) => VF.el("tr", {}, [
      VF.el("td", { text: item.operation }), VF.el("td", { text: item.provider }),
      VF.el("td", { text: `${Number(item.units).toFixed(2)} ${item.unit || ""}`.trim() }),
      VF.el("td", { text: item.cost_usd || "0" })])));
    byId("costs-total").textContent = costs.total_usd;
  }

  function show(job) {
    const before = current ? current.status : null;
    current = job;
    root.dataset.status = job.status;
    const status = byId("job-status");
    status.textContent = VF.statusLabel(job.status);
    status.className = `status status-${job.status}`;
    const percent = job.progress || 0;
    byId("job-progress").value = percent;
    byId("job-progress").textContent = `${percent} %`;
    byId("job-percent").textContent = `${percent} %`;
    showStages(job);
    byId("failure").hidden = job.status !== "failed";
    byId("failure-reason").textContent = job.error ? job.error.message : "";
    byId("retry-job").hidden = !["failed", "canceled"].includes(job.status);
    byId("cancel-job").hidden = !["queued", "running", "awaiting_review"].includes(job.status);
    const captions = (job.stages || {}).captions;
    byId("preview").hidden = !(captions && captions.status === "succeeded")
      || job.status === "canceled";
    byId("result").hidden = job.status !== "succeeded";
    if (job.status === "succeeded") showResult(job);
    showCosts(job.costs);
    const reviewing = job.status === "awaiting_review";
    byId("review").hidden = !reviewing;
    // A script stage that ran again (a scene written again) wrote a new script: read it.
    const run = (job.stages || {}).script || {};
    const mark = `${run.attempts}/${run.finished_at}`;
    if (reviewing && mark !== scriptMark) {
      scriptMark = mark;
      loadScript();
    }
    if (before && before !== job.status) VF.notice(`The video is now: ${VF.statusLabel(job.status)}.`);
  }

  function watch() {
    if (stream && stream.readyState !== EventSource.CLOSED) return;
    stream = VF.follow(root.dataset.events, "job", show, () => { stream = null; });
  }

  // --- review ------------------------------------------------------------------------------

  function sceneEditor(scene, i) {
    const narration = `scene-${i}-narration`;
    const headline = `scene-${i}-headline`;
    return VF.el("li", { class: "scene" }, [VF.el("fieldset", {}, [
      VF.el("legend", { text: `Scene ${i + 1}` }),
      VF.el("div", { class: "field" }, [
        VF.el("label", { for: narration, text: `What is said in scene ${i + 1}` }),
        Object.assign(VF.el("textarea", { id: narration, name: `scenes.${i}.narration`,
          rows: 3, maxlength: 1000 }), { value: scene.narration })]),
      VF.el("div", { class: "field" }, [
        VF.el("label", { for: headline, text: `Headline of scene ${i + 1}` }),
        Object.assign(VF.el("input", { id: headline, name: `scenes.${i}.headline`,
          maxlength: 100 }), { value: scene.headline || "" })]),
      VF.el("button", { type: "button", class: "secondary", "data-regenerate": i,
        text: `Write scene ${i + 1} again` })])]);
  }

  async function loadScript() {
    const answer = await VF.api("GET", `${jobUrl}/script`);
    if (!answer.ok) {
      VF.showError(reviewForm, answer.data && answer.data.error);
      return;
    }
    script = answer.data;
    byId("review-title-input").value = script.title || "";
    byId("review-scenes").replaceChildren(...script.scenes.map(sceneEditor));
  }

  function editedScript() {
    const scenes = script.scenes.map((scene, i) => ({
      ...scene,
      // Narration is one paragraph: line breaks typed into the box become spaces.
      narration: byId(`scene-${i}-narration`).value.replace(/\s*\n\s*/g, " ").trim(),
      headline: byId(`scene-${i}-headline`).value.trim(),
    }));
    return { ...script, title: byId("review-title-input").value.trim(), scenes };
  }

  function changed() {
    return JSON.stringify(editedScript()) !== JSON.stringify(script);
  }

  async function saveScript() {
    if (!script || !changed()) return true;
    const answer = await VF.api("PUT", `${jobUrl}/script`, editedScript());
    if (!answer.ok) {
      VF.showError(reviewForm, answer.data && answer.data.error);
      return false;
    }
    script = answer.data;
    return true;
  }

  async function act(button, work) {
    button.disabled = true;
    try { await work(); } finally { button.disabled = false; }
  }

  byId("save-script").addEventListener("click", (event) => act(event.currentTarget, async () => {
    VF.clearErrors(reviewForm);
    if (await saveScript()) VF.notice("The script is saved.");
  }));

  reviewForm.addEventListener("submit", (event) => {
    event.preventDefault();
    act(byId("approve-job"), async () => {
      VF.clearErrors(reviewForm);
      if (!(await saveScript())) return;
      const answer = await VF.api("POST", `${jobUrl}/approve`);
      if (!answer.ok) {
        VF.showError(reviewForm, answer.data && answer.data.error);
        return;
      }
      byId("review").hidden = true;
      VF.notice("Approved: the video is being made.");
      watch();
    });
  });

  byId("review-scenes").addEventListener("click", (event) => {
    const button = event.target.closest("[data-regenerate]");
    if (!button) return;
    act(button, async () => {
      VF.clearErrors(reviewForm);
      const scene = Number(button.dataset.regenerate);
      const answer = await VF.api("POST", `${jobUrl}/script/regenerate`, { scene });
      if (!answer.ok) {
        VF.showError(reviewForm, answer.data && answer.data.error);
        return;
      }
      byId("review").hidden = true;
      VF.notice(`Scene ${scene + 1} is being written again.`);
      watch();
    });
  });

  // --- the other actions ------------------------------------------------------------------

  byId("retry-job").addEventListener("click", (event) => act(event.currentTarget, async () => {
    const answer = await VF.api("POST", `${jobUrl}/retry`);
    if (!answer.ok) {
      VF.notice(answer.data ? answer.data.error.message : "It could not be retried.", "error");
      return;
    }
    VF.notice("Trying again.");
    watch();
  }));

  byId("cancel-job").addEventListener("click", (event) => act(event.currentTarget, async () => {
    if (!window.confirm("Cancel this video? Work done so far is kept for a retry.")) return;
    const answer = await VF.api("DELETE", jobUrl);
    if (!answer.ok) {
      VF.notice(answer.data ? answer.data.error.message : "It could not be canceled.", "error");
      return;
    }
    show(answer.data);
  }));

  byId("make-preview").addEventListener("click", (event) => act(event.currentTarget, async () => {
    VF.notice("Making the draft…");
    const answer = await VF.api("POST", `${jobUrl}/preview`);
    if (!answer.ok) {
      VF.notice(answer.data ? answer.data.error.message : "The draft failed.", "error");
      return;
    }
    const video = byId("preview-video");
    video.src = `${answer.data.url}?made=${Date.now()}`; // a new draft, not the cached one
    video.hidden = false;
    VF.notice("The draft is ready.");
  }));

  byId("copy-caption").addEventListener("click", async () => {
    const box = byId("post-caption");
    try {
      await navigator.clipboard.writeText(box.value);
    } catch (err) {
      box.select();
      document.execCommand("copy");
    }
    VF.notice("The text is copied.");
  });

  watch();
})();
