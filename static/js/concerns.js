/* Progressive enhancement for the "report a problem" form: a "Use my location" button
   that fills the latitude and longitude fields. Without JavaScript or geolocation the
   button stays hidden and the fields are ordinary optional inputs. */
(function () {
  "use strict";
  var button = document.querySelector("[data-geolocate]");
  if (!button || !("geolocation" in navigator)) {
    return;
  }
  var status = document.querySelector("[data-geolocate-status]");
  var latitude = document.getElementById("id_latitude");
  var longitude = document.getElementById("id_longitude");
  if (!latitude || !longitude) {
    return;
  }

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  button.hidden = false;
  button.addEventListener("click", function () {
    button.disabled = true;
    say("Finding your location…");
    navigator.geolocation.getCurrentPosition(
      function (position) {
        latitude.value = position.coords.latitude.toFixed(6);
        longitude.value = position.coords.longitude.toFixed(6);
        button.disabled = false;
        say("Location filled in (accurate to about " + Math.round(position.coords.accuracy) + " m).");
      },
      function (error) {
        button.disabled = false;
        say(
          error.code === error.PERMISSION_DENIED
            ? "Location access was refused. You can type the place or coordinates instead."
            : "Your location could not be found. You can type the place or coordinates instead."
        );
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  });
})();
