// Playwright settings for running the Mercure conformance suite here: .ci/mercure-conformance
// copies this file beside the suite's own playwright.config.ts and runs with it. It keeps the
// suite's settings (its timeouts, its BASE_URL and CUSTOM_ID handling, its .env) and changes only
// what this machine needs:
// - one browser, Debian's Chromium: Playwright downloads no browser of its own here (no network
//   but package registries), and the suite's Firefox and WebKit projects would need one;
// - the flags Chromium needs to start as root in a container: no sandbox, no GPU, and none of its
//   background traffic (component updates, sync, field trials), since there is no network;
// - a plain list report on the terminal instead of an HTML report (which opens a browser window
//   when a test fails) and no retries, so that a test that passed only on a second try shows up.
import type { PlaywrightTestConfig } from "@playwright/test";
import { devices } from "@playwright/test";
import suite from "./playwright.config";

const config: PlaywrightTestConfig = {
  ...suite,
  reporter: [["list"]],
  retries: 0,
  workers: 1,
  forbidOnly: true,
  outputDir: process.env.MERCURE_CONFORMANCE_RESULTS ?? "test-results",
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        launchOptions: {
          executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
          ],
        },
      },
    },
  ],
};

export default config;
