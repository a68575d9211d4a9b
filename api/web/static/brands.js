// The brand pages: create, make default, delete; one brand's settings, logo and music.
"use strict";

(() => {
  const byId = (id) => document.getElementById(id);

  // --- the list ----------------------------------------------------------------------------
  const newBrand = byId("new-brand");
  if (newBrand) {
    newBrand.addEventListener("submit", async (event) => {
      event.preventDefault();
      VF.clearErrors(newBrand);
      const answer = await VF.api("POST", "/v1/profiles", VF.formValue(newBrand));
      if (!answer.ok) {
        VF.showError(newBrand, answer.data && answer.data.error);
        return;
      }
      window.location.assign(`/brands/${encodeURIComponent(answer.data.id)}`);
    });
    document.addEventListener("click", async (event) => {
      const makeDefault = event.target.closest("[data-make-default]");
      const remove = event.target.closest("[data-delete-brand]");
      if (makeDefault) {
        const answer = await VF.api("POST",
          `/v1/profiles/${encodeURIComponent(makeDefault.dataset.makeDefault)}/default`);
        if (answer.ok) window.location.reload();
        else VF.notice(answer.data.error.message, "error");
      } else if (remove) {
        if (!window.confirm(`Delete the brand ${remove.dataset.name}? Its videos stay.`)) return;
        const answer = await VF.api("DELETE",
          `/v1/profiles/${encodeURIComponent(remove.dataset.deleteBrand)}`);
        if (answer.ok) window.location.reload();
        else VF.notice(answer.data.error.message, "error");
      }
    });
  }

  // --- one brand ---------------------------------------------------------------------------
  const form = byId("brand-form");
  if (!form) return;
  const profileUrl = form.dataset.profile;

  function showSecrets(profile) {
    const set = {
      "llm.api_key": profile.llm_api_key_set, pexels_api_key: profile.pexels_api_key_set,
      pixabay_api_key: profile.pixabay_api_key_set,
      "publish.postiz.api_key": profile.publish.postiz.api_key_set,
      "publish.webhook.secret": profile.publish.webhook.secret_set,
    };
    document.querySelectorAll("[data-secret-status]").forEach((node) => {
      node.textContent = set[node.dataset.secretStatus] ? "Set" : "Not set";
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    VF.clearErrors(form);
    const body = VF.formValue(form, { onlyChanged: true, clearEmpty: true });
    form.querySelectorAll("[data-clear-for]:checked").forEach((box) => {
      const path = box.dataset.clearFor.split(".");
      let node = body;
      path.slice(0, -1).forEach((part) => { node = node[part] = node[part] || {}; });
      node[path[path.length - 1]] = ""; // "" removes a saved secret
    });
    if (!Object.keys(body).length) {
      VF.notice("Nothing was changed.");
      return;
    }
    const answer = await VF.api("PATCH", profileUrl, body);
    if (!answer.ok) {
      VF.showError(form, answer.data && answer.data.error);
      return;
    }
    form.querySelectorAll("[data-kind=secret]").forEach((input) => { input.value = ""; });
    form.querySelectorAll("[data-clear-for]").forEach((box) => { box.checked = false; });
    VF.markSaved(form);
    showSecrets(answer.data);
    VF.notice("The settings are saved.");
  });

  // Logo: a picture as the raw body.
  const logoForm = byId("logo-form");
  logoForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    VF.clearErrors(logoForm);
    const [file] = byId("logo-file").files;
    if (!file) {
      VF.showError(logoForm, { field: "logo", message: "Choose a PNG or JPEG picture first." });
      return;
    }
    const answer = await VF.upload("PUT", logoForm.dataset.url, file);
    if (!answer.ok) {
      VF.showError(logoForm, { ...(answer.data && answer.data.error), field: "logo" });
      return;
    }
    byId("logo-state").textContent = "This brand has a logo; it is shown on its videos.";
    byId("remove-logo").hidden = false;
    VF.notice("The logo is saved.");
  });
  byId("remove-logo").addEventListener("click", async () => {
    const answer = await VF.api("DELETE", logoForm.dataset.url);
    if (answer.ok) {
      byId("logo-state").textContent = "No logo yet.";
      byId("remove-logo").hidden = true;
      VF.notice("The logo is removed.");
    }
  });

  // Music: tracks uploaded with a progress bar, listed, deleted.
  const list = byId("music-list");
  function showMusic(names) {
    if (!names.length) {
      list.replaceChildren(VF.el("li", { "data-empty": true, text: "No music yet." }));
      return;
    }
    list.replaceChildren(...names.map((name) => VF.el("li", {}, [`${name} `,
      VF.el("button", { type: "button", class: "secondary", "data-delete-music": name,
        text: `Delete ${name}` })])));
  }
  const musicForm = byId("music-form");
  musicForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    VF.clearErrors(musicForm);
    const [file] = byId("music-file").files;
    if (!file) {
      VF.showError(musicForm, { field: "filename", message: "Choose a track first." });
      return;
    }
    byId("music-upload").hidden = false;
    const bar = byId("music-progress");
    const url = `${list.dataset.url}?filename=${encodeURIComponent(file.name)}`;
    const answer = await VF.upload("POST", url, file, (fraction) => {
      bar.value = Math.round(fraction * 100);
      bar.textContent = `${bar.value} %`;
    });
    if (!answer.ok) {
      VF.showError(musicForm, { ...(answer.data && answer.data.error), field: "filename" });
      return;
    }
    showMusic(answer.data.music);
    byId("music-file").value = "";
    VF.notice("The track is added.");
  });
  list.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-delete-music]");
    if (!button) return;
    const name = button.dataset.deleteMusic;
    const answer = await VF.api("DELETE", `${list.dataset.url}/${encodeURIComponent(name)}`);
    if (answer.ok) {
      showMusic(answer.data.music);
      VF.notice(`${name} is deleted.`);
    }
  });
})();
