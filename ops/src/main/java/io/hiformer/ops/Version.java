package io.hiformer.ops;

import picocli.CommandLine;

/** The version from the jar's manifest, or "dev" when run from classes. */
final class Version implements CommandLine.IVersionProvider {
  @Override
  public String[] getVersion() {
    String v = HiformerCommand.class.getPackage().getImplementationVersion();
    return new String[] {"hiformer " + (v == null ? "dev" : v) + " (Java " + Runtime.version() + ")"};
  }
}
