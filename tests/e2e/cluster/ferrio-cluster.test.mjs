// Three Ferrio servers joined by the Redis adapter (127.0.0.1:6379), a client on each.
import { clusterScenarios } from "../lib/cluster-scenarios.mjs";

clusterScenarios("three Ferrio servers", ["ferrio", "ferrio", "ferrio"]);
