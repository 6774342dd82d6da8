package io.hiformer.features;

import io.hiformer.proto.FeatureValue;
import java.util.List;
import java.util.Map;

/** {@link RawRecord} over a protobuf feature map; see {@link RawRecord#ofFeatures}. */
record FeatureValueRecord(Map<String, FeatureValue> values) implements RawRecord {

  @Override
  public String value(String column) {
    return RawRecord.text(values.get(column));
  }

  @Override
  public boolean isNumber(String column) {
    FeatureValue v = values.get(column);
    return v != null && v.hasDense();
  }

  @Override
  public double number(String column) {
    return values.get(column).getDense();
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
