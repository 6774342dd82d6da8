/**
 * The {@code hiformer} command line (picocli): one class per command, options from flags, {@code
 * HIFORMER_*} variables or a YAML file ({@code ConfigDefaults}), user errors as one line and exit
 * code 2 ({@code UserErrors}), and the demo. Commands are in {@code README.md} and {@code
 * ops/README.md}.
 *
 * <p>Entry point: {@link io.hiformer.ops.HiformerCommand#main}. The only other public class is
 * {@link io.hiformer.ops.LogFormatter}, because java.util.logging instantiates it by name from a
 * {@code logging.properties} file; commands and their shared options ({@code KafkaOptions},
 * {@code AnnounceOptions}, {@code MetricsOptions}) are package-private. Subsystems big enough for a package of their own: {@link
 * io.hiformer.ops.loadtest} (the load generator behind {@code hiformer loadtest}).
 */
package io.hiformer.ops;
