// The new-video form: five sources in tabs, one set of options; uploads first, then the job.
"use strict";

(() => {
  const form = document.getElementById("new-video");
  if (!form) return;
  const submit = document.getElementById("submit-video");
  const review = document.getElementById("opt-review");
  const progress = document.getElementById("upload-progress");
  const percent = document.getElementById("upload-percent");
  const uploadBox = document.getElementById("upload-status");
  let source = "idea";

  VF.tabs(form.querySelector("[role=tablist]"), (tab) => {
    source = tab.dataset.source;
    VF.clearErrors(form);
    // A batch's videos never stop for review: thousands would wait on a person.
    review.disabled = source === "feed";
    submit.textContent = source === "feed" ? "Start the batch" : "Make the video";
  });

  // --- the script tab's scenes ------------------------------------------------------------
  const scenes = document.getElementById("script-scenes");

  function renumber() {
    const all = Array.from(scenes.querySelectorAll("[data-scene]"));
    all.forEach((scene, i) => {
      scene.querySelector("legend").textContent = `Scene ${i + 1}`;
      scene.querySelectorAll("textarea, input").forEach((control) => {
        const part = control.name.split(".").pop();
        control.name = `source.scenes.${i}.${part}`;
        const label = scene.querySelector(`label[for="${control.id}"]`);
        control.id = `script-scene-${i}-${part}`;
        if (label) label.htmlFor = control.id;
      });
      const remove = scene.querySelector("[data-remove-scene]");
      remove.textContent = `Remove scene ${i + 1}`;
      remove.hidden = all.length === 1;
    });
  }

  document.getElementById("add-scene").addEventListener("click", () => {
    const copy = scenes.querySelector("[data-scene]").cloneNode(true);
    copy.querySelectorAll("textarea, input").forEach((control) => { control.value = ""; });
    copy.querySelectorAll(".field-error").forEach((node) => node.remove());
    scenes.append(copy);
    renumber();
    copy.querySelector("textarea").focus();
  });
  scenes.addEventListener("click", (event) => {
    const button = event.target.closest("[data-remove-scene]");
    if (!button) return;
    button.closest("[data-scene]").remove();
    renumber();
    scenes.querySelector("textarea").focus();
  });
  renumber();

  // --- uploads ------------------------------------------------------------------------------

  async function uploadFile(file, kind, field) {
    uploadBox.hidden = false;
    progress.value = 0;
    const query = new URLSearchParams({ filename: file.name });
    if (kind) query.set("kind", kind);
    const answer = await VF.upload("POST", `/v1/uploads?${query}`, file, (fraction) => {
      progress.value = Math.round(fraction * 100);
      progress.textContent = `${progress.value} %`;
      percent.textContent = `${progress.value} %`;
    });
    if (!answer.ok) {
      const error = (answer.data && answer.data.error) || { message: "The upload failed." };
      throw { ...error, field: error.field && error.field !== "filename" ? error.field : field };
    }
    progress.value = 100;
    percent.textContent = "Uploaded";
    return answer.data.id;
  }

  function filesOf(id) {
    return Array.from(document.getElementById(id).files || []);
  }

  // --- submitting ---------------------------------------------------------------------------

  async function body() {
    const sent = VF.formValue(form);
    sent.source = { type: source, ...(sent.source || {}) };
    if (VF.profileId) sent.profile_id = VF.profileId;
    if (source === "script" && sent.source.scenes) {
      // A scene left wholly empty between filled ones is sent as {}: the API names it.
      sent.source.scenes = Array.from(sent.source.scenes, (scene) => scene || {});
    }
    if (source === "product") {
      const images = [];
      for (const file of filesOf("product-images")) {
        images.push(await uploadFile(file, null, "source.images"));
      }
      if (images.length) sent.source.images = images;
    } else if (source === "clip") {
      const [clip] = filesOf("clip-file");
      if (!clip) throw { field: "source.upload_id", message: "Choose the clip to upload." };
      sent.source.upload_id = await uploadFile(clip, null, "source.upload_id");
    } else if (source === "feed") {
      const [feed] = filesOf("feed-file");
      if (feed && !sent.source.url) {
        sent.source.upload_id = await uploadFile(feed, "feed", "source.upload_id");
      }
      delete sent.review;
    }
    return sent;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    VF.clearErrors(form);
    submit.disabled = true;
    try {
      const sent = await body();
      const path = source === "feed" ? "/v1/batches" : "/v1/jobs";
      const answer = await VF.api("POST", path, sent);
      if (!answer.ok) {
        VF.showError(form, answer.data && answer.data.error);
        return;
      }
      const page = source === "feed" ? "/batches/" : "/jobs/";
      window.location.assign(page + encodeURIComponent(answer.data.id));
    } catch (error) {
      VF.showError(form, error);
    } finally {
      submit.disabled = false;
    }
  });
})();
