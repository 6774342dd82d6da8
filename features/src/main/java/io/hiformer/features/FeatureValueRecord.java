package io.hiformer.features;

import io.hiformer.proto.FeatureValue;
import java.util.List;
import java.util.Map;

/** {@link RawRecord} over a protobuf feature map; see {@link RawRecord#ofFeatures}. */
record FeatureValueRecord(Map<String, FeatureValue> values) implements RawRecord {

  @Override
  public String value(String column) {
    FeatureValue v = values.get(column);
    if (v == null) {
      return null;
    }
    return switch (v.getKindCase()) {
      case CATEGORICAL -> v.getCategorical();
      case ID -> Long.toString(v.getId());
      case DENSE -> Double.toString(v.getDense());
      case BAG, KIND_NOT_SET -> "";
    };
  }

  @Override
  public List<String> bag(String column, String separator) {
    FeatureValue v = values.get(column);
    if (v != null && v.hasBag()) {
      return v.getBag().getValuesList();
    }
    return RawRecord.super.bag(column, separator);
  }
}
