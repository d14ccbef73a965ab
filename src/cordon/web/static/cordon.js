// Progressive enhancement only: every page works without this file.
// Buttons with data-confirm ask before their form is sent (withdraw, revoke).
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const message = button && button.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
// A file input with data-load-into reads the chosen text file into that textarea, so that
// a hash list is posted as form text (the hub takes no file uploads).
document.addEventListener("change", async (event) => {
  const input = event.target;
  const target = input.dataset && document.getElementById(input.dataset.loadInto || "");
  if (target && input.files && input.files.length) {
    target.value = await input.files[0].text();
  }
});
