// Renders the service's own OpenAPI document with the vendored Redoc
// bundle. Telemetry is off: the page talks to no one but the service.
import { init } from "/docs/redoc.standalone.js";

init("/api/v1/openapi.json", { disableTelemetry: true, hideLoading: false }, document.getElementById("redoc"));
