// Play buttons for the recordings on a call's page: each toggles its <audio> element.
// The pages work without this script (the players have their own controls).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-play]").forEach(function (button) {
    var audio = document.getElementById(button.getAttribute("data-play"));
    if (!audio) return;
    button.addEventListener("click", function () {
      if (audio.paused) {
        document.querySelectorAll("audio").forEach(function (other) {
          if (other !== audio) other.pause();
        });
        audio.play();
      } else {
        audio.pause();
      }
    });
    audio.addEventListener("play", function () { button.textContent = "Pause"; });
    audio.addEventListener("pause", function () { button.textContent = "Play"; });
    audio.addEventListener("ended", function () { button.textContent = "Play"; });
  });
});
