// A mixed cluster: the Node.js reference server (socket.io 4.8 + @socket.io/redis-adapter 8.3)
// and two Ferrio servers, each scenario started from a Node client and from a Ferrio client.
import { referenceAvailable } from "../lib/cluster.mjs";
import { clusterScenarios } from "../lib/cluster-scenarios.mjs";

// In CI the reference server must be there (.ci/run installs it).
const skip = !referenceAvailable() && !process.env.CI && "Node reference server not installed (FERRIO_REFERENCE_DIR)";

clusterScenarios("Node + two Ferrio servers, from the Node server", ["node", "ferrio", "ferrio"], { origin: "a", skip });
clusterScenarios("Node + two Ferrio servers, from a Ferrio server", ["node", "ferrio", "ferrio"], { origin: "b", skip });
clusterScenarios("two Node servers + Ferrio, from the Ferrio server", ["node", "node", "ferrio"], { origin: "c", skip });
