// Progressive enhancement only: every page works without this file.
// Buttons with data-confirm ask before their form is sent (withdraw, revoke).
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const message = button && button.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
